"""``--tls-cert``/``--tls-key``: both ports speak TLS with a certificate made here."""

from __future__ import annotations

import datetime
import ipaddress
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import requests
from clarifai_grpc.channel.clarifai_channel import ClarifaiChannel
from clarifai_grpc.grpc.api import resources_pb2, service_pb2, service_pb2_grpc

from labeldesk.app import RunningServer, Tls, build
from labeldesk.services import admin
from tests.helpers import ok

x509 = pytest.importorskip("cryptography.x509")
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402


def self_signed(directory: Path) -> Tls:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return Tls(str(cert_path), str(key_path))


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    directory = tmp_path_factory.mktemp("tls")
    running = RunningServer(
        build(f"sqlite:///{directory / 'tls.db'}"), "127.0.0.1", 0, 0, tls=self_signed(directory)
    ).start()
    yield running
    running.stop()


def test_rest_speaks_tls_only(tls_server: RunningServer) -> None:
    assert tls_server.tls is not None
    assert tls_server.base_url.startswith("https://")
    answer = requests.get(f"{tls_server.base_url}/healthz", verify=tls_server.tls.cert, timeout=10)
    assert answer.status_code == 200
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{tls_server.http_port}/healthz", timeout=10)


def test_grpc_speaks_tls(tls_server: RunningServer) -> None:
    assert tls_server.tls is not None
    db = tls_server.app.db
    pat = admin.create_user(db, "tls-user", "tls@example.com")
    admin.create_app(db, "tls-user", "tls-app")
    target = f"localhost:{tls_server.grpc_port}"
    # the official client's secure channel, trusting our certificate
    channel = ClarifaiChannel.get_grpc_channel(base=target, root_certificates_path=tls_server.tls.cert)
    req = service_pb2.ListConceptsRequest(
        user_app_id=resources_pb2.UserAppIDSet(user_id="tls-user", app_id="tls-app")
    )
    ok(service_pb2_grpc.V2Stub(channel).ListConcepts(req, metadata=(("authorization", f"Key {pat}"),)))
    channel.close()
    with grpc.insecure_channel(target) as plain, pytest.raises(grpc.RpcError):
        service_pb2_grpc.V2Stub(plain).ListConcepts(req, timeout=5)


def test_stopping_does_not_wait_on_an_idle_tls_client(tmp_path: Path) -> None:
    """An idle keep-alive TLS connection (a browser tab, a requests session) never answers the
    server's close_notify: the stop used to wait the whole grace period for it and close the event
    loop with its transport open (transport/rest/http_server.py)."""
    grace = 10.0
    server = RunningServer(
        build(f"sqlite:///{tmp_path / 'idle.db'}"), "127.0.0.1", 0, 0, self_signed(tmp_path), grace
    ).start()
    assert server.tls is not None
    with requests.Session() as session:
        assert session.get(f"{server.base_url}/healthz", verify=server.tls.cert, timeout=10).ok
        began = time.monotonic()
        server.stop()  # the session's connection is still open, idle
        took = time.monotonic() - began
    assert took < grace / 2, f"the stop waited {took:.1f} s for an idle client"
