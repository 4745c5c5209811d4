"""The format readers: what each malformed file is told (a table), and that good files read into
the records they describe."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from labeldesk.datasets_io import rle
from labeldesk.datasets_io.formats import READERS
from labeldesk.datasets_io.records import Box, FormatError, Mask, Record, RecordError


def image(path: Path, size: tuple[int, int] = (40, 20)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (200, 40, 40)).save(path)
    return path


def coco(root: Path, *, file_name: str = "a.jpg", bbox: list[float] | None = None, cat: int = 1) -> Path:
    image(root / "images" / "a.jpg")
    doc = {
        "images": [{"id": 7, "file_name": file_name, "width": 40, "height": 20}],
        "annotations": [{"id": 1, "image_id": 7, "category_id": cat, "bbox": bbox or [4, 2, 20, 10]}],
        "categories": [{"id": 1, "name": "cat"}],
    }
    (root / "annotations.json").write_text(json.dumps(doc))
    return root


def yolo(root: Path, label: str) -> Path:
    image(root / "images" / "a.jpg")
    (root / "labels").mkdir(parents=True)
    (root / "labels" / "a.txt").write_text(label)
    (root / "classes.txt").write_text("cat\ndog\n")
    return root


def voc(root: Path, xml: str) -> Path:
    image(root / "JPEGImages" / "a.jpg")
    (root / "Annotations").mkdir(parents=True)
    (root / "Annotations" / "a.xml").write_text(xml)
    return root


VOC_OK = (
    "<annotation><filename>a.jpg</filename><size><width>40</width><height>20</height></size>"
    "<object><name>cat</name><bndbox><xmin>{x0}</xmin><ymin>2</ymin><xmax>{x1}</xmax><ymax>12</ymax></bndbox>"
    "</object></annotation>"
)


def jsonl(root: Path, line: str) -> Path:
    image(root / "a.jpg")
    root.mkdir(parents=True, exist_ok=True)
    (root / "data.jsonl").write_text(line + "\n")
    return root / "data.jsonl"


def csv_file(root: Path, body: str) -> Path:
    image(root / "a.jpg")
    (root / "data.csv").write_text(body)
    return root / "data.csv"


MALFORMED = [
    # (format, builder, file the message names, where, words of the message)
    (
        "coco",
        lambda p: coco(p, file_name="missing.jpg"),
        "annotations.json",
        "images[0]",
        "'missing.jpg' not found",
    ),
    (
        "coco",
        lambda p: coco(p, bbox=[30, 2, 20, 10]),
        "annotations.json",
        "annotations[0]",
        "outside the image",
    ),
    ("coco", lambda p: coco(p, cat=9), "annotations.json", "annotations[0]", "unknown category_id 9"),
    ("voc", lambda p: voc(p, VOC_OK.format(x0=4, x1=44)), "a.xml", "object[0]", "outside the image of 40x20"),
    ("voc", lambda p: voc(p, "<annotation><filename>a.jpg</filename"), "a.xml", "line 1", "broken XML"),
    (
        "voc",
        lambda p: voc(p, VOC_OK.format(x0=4, x1=24).replace("a.jpg", "b.jpg")),
        "a.xml",
        "filename",
        "'b.jpg' not found",
    ),
    ("yolo", lambda p: yolo(p, "0 0.5 0.5 0.2\n"), "a.txt", "line 1", "4 columns: expected 5"),
    (
        "yolo",
        lambda p: yolo(p, "0 0.5 0.5 0.2 0.2\n2 0.5 0.5 0.2 0.2\n"),
        "a.txt",
        "line 2",
        "unknown class 2",
    ),
    ("yolo", lambda p: yolo(p, "0 0.95 0.5 0.2 0.2\n"), "a.txt", "line 1", "outside the image"),
    ("jsonl", lambda p: jsonl(p, '{"id": "a", "image": "a.jpg"'), "data.jsonl", "line 1", "broken JSON"),
    (
        "jsonl",
        lambda p: jsonl(p, '{"id": "a", "image": "nope.jpg"}'),
        "data.jsonl",
        "line 1",
        "'nope.jpg' not found",
    ),
    (
        "jsonl",
        lambda p: jsonl(p, '{"image": "a.jpg", "regions": [{"concepts": ["x"], "bbox": {"top_row": 0.5}}]}'),
        "data.jsonl",
        "line 1",
        "regions[0]: 'bbox' needs numbers",
    ),
    ("csv", lambda p: csv_file(p, "id,image\nb,b.jpg\n"), "data.csv", "line 2", "'b.jpg' not found"),
    (
        "csv",
        lambda p: csv_file(p, 'id,image,metadata\na,a.jpg,"{oops"\n'),
        "data.csv",
        "line 2",
        "broken JSON",
    ),
]


@pytest.mark.parametrize(("fmt", "build", "file", "where", "words"), MALFORMED)
def test_a_malformed_file_is_named_with_its_line_or_record(
    tmp_path: Path, fmt: str, build: object, file: str, where: str, words: str
) -> None:
    path = build(tmp_path / "ds")  # type: ignore[operator]
    errors = [i for i in READERS[fmt](path) if isinstance(i, RecordError)]
    assert len(errors) == 1, errors
    e = errors[0]
    assert (Path(e.file).name, e.where) == (file, where)
    assert words in e.message, str(e)


def test_broken_coco_json_stops_the_whole_file_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "annotations.json").write_text('{"images": [\n  {"id": 1,\n  }\n]}')
    with pytest.raises(FormatError) as info:
        list(READERS["coco"](tmp_path))
    assert info.value.error.where == "line 3"
    assert "broken JSON" in str(info.value)


def test_yolo_without_a_class_list_is_refused(tmp_path: Path) -> None:
    image(tmp_path / "images" / "a.jpg")
    with pytest.raises(FormatError, match=r"classes\.txt"):
        list(READERS["yolo"](tmp_path))


def test_coco_reads_boxes_polygons_and_masks_in_relative_coordinates(tmp_path: Path) -> None:
    image(tmp_path / "images" / "a.jpg")
    mask = {"size": [20, 40], "counts": [20 * 10 + 5, 5, 15, 5, 800 - 230]}
    doc = {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 40, "height": 20, "license": 3}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 2, "bbox": [4, 2, 20, 10]},
            {"id": 2, "image_id": 1, "category_id": 2, "segmentation": [[0, 0, 20, 0, 20, 10]]},
            {"id": 3, "image_id": 1, "category_id": 2, "segmentation": mask, "iscrowd": 1},
        ],
        "categories": [{"id": 2, "name": "tabby cat"}],
    }
    (tmp_path / "annotations.json").write_text(json.dumps(doc))
    (r,) = READERS["coco"](tmp_path)
    assert isinstance(r, Record)
    assert (r.input_id, r.width, r.height, r.metadata) == ("a", 40, 20, {"license": 3, "coco_image_id": 1})
    box, poly, masked = r.regions
    assert box.concepts == ("tabby-cat",) and box.box == Box(0.1, 0.1, 0.6, 0.6)
    assert poly.polygon == ((0.0, 0.0), (0.5, 0.0), (0.5, 0.5))
    assert masked.mask == Mask(20, 40, tuple(mask["counts"]))
    assert masked.box == Box(5 / 20, 10 / 40, 10 / 20, 12 / 40)


def test_folder_names_concepts_after_sub_folders(tmp_path: Path) -> None:
    image(tmp_path / "cat" / "1.jpg")
    image(tmp_path / "dog" / "x" / "2.png")
    image(tmp_path / "loose.jpg")
    got = {r.input_id: r.concepts for r in READERS["folder"](tmp_path) if isinstance(r, Record)}
    assert got == {"loose": (), "cat--1": ("cat",), "dog--x--2": ("dog",)}


def _encode(counts: list[int]) -> str:
    """pycocotools' rleToString, transcribed: 5-bit groups, deltas from the run two back."""
    out = []
    for i, c in enumerate(counts):
        x = c - counts[i - 2] if i > 2 else c
        more = True
        while more:
            ch = x & 0x1F
            x >>= 5
            more = x != -1 if ch & 0x10 else x != 0
            out.append(chr(ch + (0x20 if more else 0) + 48))
    return "".join(out)


@pytest.mark.parametrize("counts", [[0, 12], [1, 2, 5, 1, 3], [3, 100, 2, 40, 1000, 7, 1]])
def test_compressed_rle_strings_decode_like_pycocotools(counts: list[int]) -> None:
    assert rle.decode_counts(_encode(counts)) == counts
    mask = rle.from_coco({"size": [sum(counts), 1], "counts": _encode(counts)})
    assert rle.from_png(rle.to_png(mask)) == mask
