"""The one record type every reader produces and every writer, checker and pipeline consumes.

Box format everywhere in records: pixels of the original image, ``x1, y1, x2, y2``
(x to the right, y down, float32). Labels are 0-based indices into ``class_names``
(the model adds 1, because its class 0 is background).
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass
class Record:
    """One annotated image.

    Attributes:
        image_path: path of the image file.
        boxes: ``(N, 4)`` float32, pixels, ``x1 y1 x2 y2``.
        labels: ``(N,)`` int32, 0-based indices into the dataset's ``class_names``.
        difficult: ``(N,)`` bool, VOC "difficult" flags (False when the format has none).
        width, height: image size in pixels as the annotation states it (None if unknown).
    """

    image_path: str
    boxes: np.ndarray
    labels: np.ndarray
    difficult: np.ndarray | None = None
    width: int | None = None
    height: int | None = None

    def __post_init__(self) -> None:
        self.boxes = np.asarray(self.boxes, np.float32).reshape(-1, 4)
        self.labels = np.asarray(self.labels, np.int32).reshape(-1)
        if self.difficult is None:
            self.difficult = np.zeros(len(self.labels), bool)
        self.difficult = np.asarray(self.difficult, bool).reshape(-1)
        if not len(self.boxes) == len(self.labels) == len(self.difficult):
            raise ValueError(
                f"{self.image_path}: boxes, labels and difficult differ in length "
                f"({len(self.boxes)}, {len(self.labels)}, {len(self.difficult)})"
            )


@dataclasses.dataclass
class Dataset:
    """Records plus the class list they index into.

    ``skipped`` lists what loading dropped (one human-readable line each: file, record,
    problem) so that nothing is lost silently; ``report`` holds the checker's findings.
    """

    records: list[Record]
    class_names: list[str]
    skipped: list[str] = dataclasses.field(default_factory=list)
    report: object | None = None

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self):
        return iter(self.records)

    def __getitem__(self, index):
        return self.records[index]
