"""A folder of images, classification style (ImageNet / Keras ``image_dataset_from_directory``):
an image in ``root/cat/001.jpg`` gets the concept ``cat``; images directly in ``root`` get none.
Ids are the relative path without suffix (``cat--001``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from labeldesk.datasets_io.records import IMAGE_SUFFIXES, Item, Record, id_from_path, stable_id


def read(root: Path) -> Iterator[Item]:
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        here = Path(folder)
        concepts = (stable_id(here.relative_to(root).parts[0]),) if here != root else ()
        for f in sorted(files):
            if os.path.splitext(f)[1].lower() in IMAGE_SUFFIXES:
                path = here / f
                yield Record(input_id=id_from_path(path, root), source=str(path), concepts=concepts)
