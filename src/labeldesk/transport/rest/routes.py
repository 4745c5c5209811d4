"""REST route compiler: turns the ``google.api.http`` options of the V2 service into a router.

Routes are never written by hand. At start-up :func:`compile_routes` reads every method's
``HttpRule`` (the primary binding plus ``additional_bindings``), parses the path templates and
files them into a segment trie, so matching a request costs one dict lookup per path segment
instead of a scan over hundreds of regular expressions.

Precedence follows the templates segment by segment, left to right: a literal segment outranks a
variable at the same position (``GET /v2/inputs/status`` is ``GetInputCount``, not ``GetInput``
with ``input_id="status"``). Matching is per HTTP method, as in grpc-gateway: when the literal
branch has no route for the request's method the variable branch is tried (``GET
/v2/inputs/annotations`` is ``GetInput``, because only ``DELETE`` has the literal route).

A handful of bindings in clarifai-grpc are exact duplicates of another method's binding (the same
HTTP method and the same template shape). Those are resolved once, at compile time, by
:func:`_rank`; the losers stay visible through :meth:`Router.collisions`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from urllib.parse import unquote

from google.api import annotations_pb2, http_pb2
from google.protobuf.descriptor import Descriptor, MethodDescriptor, ServiceDescriptor

HTTP_METHODS = ("GET", "POST", "PATCH", "PUT", "DELETE")

# The HTTP method an RPC name's verb implies. Used only to break ties between colliding bindings
# (e.g. clarifai-grpc 12.6 gives ``PostPipelines`` a ``GET /v2/pipelines`` binding that belongs to
# ``ListPipelines``).
_VERB_PREFIXES = (
    ("Get", "GET"),
    ("List", "GET"),
    ("Post", "POST"),
    ("Patch", "PATCH"),
    ("Put", "PUT"),
    ("Delete", "DELETE"),
)


@dataclass(frozen=True)
class Variable:
    """A ``{field.path}`` segment of a template; it captures exactly one non-empty path segment."""

    field_path: str


Segment = str | Variable


@dataclass(frozen=True)
class Binding:
    """One HTTP binding of one RPC, as declared in the proto (primary or additional)."""

    method: MethodDescriptor
    http_method: str
    template: str
    body: str
    segments: tuple[Segment, ...]
    primary: bool
    order: int
    """Declaration order over the whole service (method index, then binding index)."""

    @property
    def field_paths(self) -> tuple[str, ...]:
        """The dotted request-field paths of the template's variables, left to right."""
        return tuple(s.field_path for s in self.segments if isinstance(s, Variable))


@dataclass(frozen=True)
class RouteMatch:
    """A request path resolved to an RPC, with the values captured from the path."""

    method: MethodDescriptor
    path_params: dict[str, str]
    """Dotted proto field path -> percent-decoded value, e.g. ``{"user_app_id.user_id": "me"}``."""
    http_method: str
    body: str
    """The binding's body spec: ``"*"`` (whole body is the request), ``""`` or a field name."""
    template: str = ""
    implemented: bool = True

    def __repr__(self) -> str:
        return (
            f"RouteMatch({self.http_method} {self.template or '?'} -> {self.method.name}, "
            f"path_params={self.path_params!r}, body={self.body!r}, implemented={self.implemented})"
        )


@dataclass(frozen=True)
class Collision:
    """Two bindings with the same HTTP method and template shape; only ``winner`` is routable."""

    winner: Binding
    loser: Binding


@dataclass(eq=False)
class _Node:
    """A trie node: children by literal segment, one shared child for any variable segment."""

    literals: dict[str, _Node] = field(default_factory=dict)
    variable: _Node | None = None
    terminals: dict[str, Binding] = field(default_factory=dict)


class Router:
    """Matches ``(HTTP method, path)`` to a :class:`RouteMatch`; built by :func:`compile_routes`."""

    def __init__(self, implemented: frozenset[str]) -> None:
        self._root = _Node()
        self._implemented = implemented
        self._bindings: list[Binding] = []
        self._collisions: list[Collision] = []

    # -- building ---------------------------------------------------------------------------

    def _add(self, binding: Binding) -> None:
        """File a binding under its template, resolving a duplicate route by :func:`_rank`."""
        self._bindings.append(binding)
        node = self._root
        for segment in binding.segments:
            if isinstance(segment, Variable):
                if node.variable is None:
                    node.variable = _Node()
                node = node.variable
            else:
                node = node.literals.setdefault(segment, _Node())
        current = node.terminals.get(binding.http_method)
        if current is None:
            node.terminals[binding.http_method] = binding
            return
        winner, loser = sorted((current, binding), key=lambda b: _rank(b, self._implemented))
        node.terminals[binding.http_method] = winner
        self._collisions.append(Collision(winner=winner, loser=loser))

    # -- matching ---------------------------------------------------------------------------

    def match(self, http_method: str, path: str) -> RouteMatch | None:
        """Resolve a request; ``path`` should be the raw (still percent-encoded) URL path.

        Segments are split on ``/`` before percent-decoding, so an id containing ``%2F`` stays one
        segment. A trailing slash and a query string are ignored.
        """
        segments = _split_path(path)
        if segments is None:
            return None
        captured: list[str] = []
        binding = _search(self._root, segments, 0, http_method.upper(), captured)
        if binding is None:
            return None
        return RouteMatch(
            method=binding.method,
            path_params=dict(zip(binding.field_paths, captured, strict=True)),
            http_method=binding.http_method,
            body=binding.body,
            template=binding.template,
            implemented=binding.method.name in self._implemented,
        )

    def allowed_methods(self, path: str) -> set[str]:
        """HTTP methods some route accepts for ``path`` (empty: no route at all -> 404, else 405)."""
        segments = _split_path(path)
        found: set[str] = set()
        if segments is not None:
            _collect_methods(self._root, segments, 0, found)
        return found

    # -- introspection ----------------------------------------------------------------------

    def bindings(self) -> list[Binding]:
        """Every binding in declaration order, including collision losers (for docs/coverage)."""
        return list(self._bindings)

    def collisions(self) -> list[Collision]:
        """Duplicate routes found at compile time and how each was resolved."""
        return list(self._collisions)

    def is_routable(self, binding: Binding) -> bool:
        """False when ``binding`` lost a collision and can never be reached."""
        return all(c.loser is not binding for c in self._collisions)


def compile_routes(service: ServiceDescriptor, implemented: Collection[str]) -> Router:
    """Build the router for every RPC of ``service`` that declares HTTP bindings.

    All RPCs get routes, not only ``implemented`` ones, so an unimplemented RPC can answer with the
    Clarifai error shape (see :attr:`RouteMatch.implemented`); ``implemented`` also wins
    collisions. Raises ``ValueError`` for unknown names in ``implemented`` and for templates this
    compiler does not understand, so a proto upgrade fails loudly at start-up, not per request.
    """
    names = {m.name for m in service.methods}
    unknown = sorted(set(implemented) - names)
    if unknown:
        raise ValueError(f"implemented RPCs not in {service.full_name}: {', '.join(unknown)}")
    router = Router(frozenset(implemented))
    order = 0
    for method in service.methods:
        for rule, primary in _http_rules(method):
            router._add(_binding(method, rule, primary, order))
            order += 1
    return router


def _http_rules(method: MethodDescriptor) -> Iterator[tuple[http_pb2.HttpRule, bool]]:
    """The method's primary HttpRule and its additional bindings (none if it has no http option)."""
    options = method.GetOptions()
    if not options.HasExtension(annotations_pb2.http):
        return
    rule = options.Extensions[annotations_pb2.http]
    yield rule, True
    for extra in rule.additional_bindings:
        yield extra, False


def _binding(method: MethodDescriptor, rule: http_pb2.HttpRule, primary: bool, order: int) -> Binding:
    """Parse one HttpRule into a :class:`Binding`, checking its variables name real fields."""
    kind = rule.WhichOneof("pattern")
    if kind is None or kind.upper() not in HTTP_METHODS:
        raise ValueError(f"{method.full_name}: unsupported http pattern {kind!r}")
    template = getattr(rule, kind)
    segments = _parse_template(template, method.full_name)
    for segment in segments:
        if isinstance(segment, Variable):
            _check_field_path(method.input_type, segment.field_path, method.full_name)
    return Binding(
        method=method,
        http_method=kind.upper(),
        template=template,
        body=rule.body,
        segments=segments,
        primary=primary,
        order=order,
    )


def _parse_template(template: str, where: str) -> tuple[Segment, ...]:
    """Split ``/v2/a/{b.c}/d`` into segments; only single-segment variables exist in the protos."""
    if not template.startswith("/"):
        raise ValueError(f"{where}: path template {template!r} must start with '/'")
    segments: list[Segment] = []
    for raw in template.strip("/").split("/"):
        if raw.startswith("{") and raw.endswith("}"):
            name, _, pattern = raw[1:-1].partition("=")
            if pattern not in ("", "*") or not name:
                raise ValueError(f"{where}: unsupported path variable {raw!r} in {template!r}")
            segments.append(Variable(name))
        elif not raw or any(c in raw for c in "{}:*="):
            raise ValueError(f"{where}: unsupported path segment {raw!r} in {template!r}")
        else:
            segments.append(raw)
    return tuple(segments)


def _check_field_path(message: Descriptor, field_path: str, where: str) -> None:
    """A path variable must name a singular scalar field, possibly inside singular messages."""
    descriptor: Descriptor | None = message
    parts = field_path.split(".")
    for i, part in enumerate(parts):
        fd = descriptor.fields_by_name.get(part) if descriptor is not None else None
        if fd is None or fd.is_repeated:
            raise ValueError(f"{where}: path variable {{{field_path}}} is not a singular request field")
        last = i == len(parts) - 1
        if last == (fd.message_type is not None):
            raise ValueError(f"{where}: path variable {{{field_path}}} does not end at a scalar field")
        descriptor = fd.message_type


def _rank(binding: Binding, implemented: frozenset[str]) -> tuple[bool, bool, bool, int]:
    """Sort key for colliding bindings: smaller wins.

    Implemented RPCs first; then an RPC whose name's verb agrees with the HTTP method (``ListX``
    for GET, ``PostX`` for POST); then unary RPCs over streaming ones (REST cannot stream); then
    declaration order, so the outcome never depends on anything but the proto.
    """
    method = binding.method
    verb = next((v for prefix, v in _VERB_PREFIXES if method.name.startswith(prefix)), None)
    streaming = bool(method.client_streaming or method.server_streaming)
    return (method.name not in implemented, verb != binding.http_method, streaming, binding.order)


def _split_path(path: str) -> list[str] | None:
    """Raw URL path -> decoded segments, tolerating a trailing slash and a query string."""
    path = path.split("?", 1)[0]
    if not path.startswith("/"):
        return None
    stripped = path.strip("/")
    if not stripped:
        return []
    return [unquote(s) for s in stripped.split("/")]


def _search(
    node: _Node, segments: list[str], i: int, http_method: str, captured: list[str]
) -> Binding | None:
    """Depth-first, literal before variable: the first complete match is the most specific one."""
    if i == len(segments):
        return node.terminals.get(http_method)
    segment = segments[i]
    child = node.literals.get(segment)
    if child is not None:
        found = _search(child, segments, i + 1, http_method, captured)
        if found is not None:
            return found
    if node.variable is not None and segment:
        captured.append(segment)
        found = _search(node.variable, segments, i + 1, http_method, captured)
        if found is not None:
            return found
        captured.pop()
    return None


def _collect_methods(node: _Node, segments: list[str], i: int, found: set[str]) -> None:
    """Every HTTP method of every template that matches the path (any precedence)."""
    if i == len(segments):
        found.update(node.terminals)
        return
    child = node.literals.get(segments[i])
    if child is not None:
        _collect_methods(child, segments, i + 1, found)
    if node.variable is not None and segments[i]:
        _collect_methods(node.variable, segments, i + 1, found)
