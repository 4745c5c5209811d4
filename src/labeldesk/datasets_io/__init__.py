"""Dataset files in and out: pure readers and writers between the formats teams keep their data in
(COCO, YOLO, Pascal VOC, JSONL, CSV, a folder of images) and one neutral record model
(:mod:`labeldesk.datasets_io.records`). No database here: the import and export commands
(:mod:`labeldesk.datasets_io.bulk` for the writes) move records in and out of storage."""
