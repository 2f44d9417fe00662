"""Train SSD300-MobileNet on the bundled BCCD blood-cell data and print its test mAP.

    python examples/train_bccd.py

The run folder gets checkpoints, ``log.csv``, TensorBoard logs and ``report.md``.
"""

from pathlib import Path

import ssdzoo

BCCD = Path(__file__).resolve().parents[1] / "data" / "BCCD"

config = ssdzoo.TrainConfig(backbone="mobilenet", data=str(BCCD), epochs=40, batch_size=8,
                            out="runs/bccd_mobilenet")
summary = ssdzoo.train(config)
print(f"test mAP@0.5 (VOC07): {summary['map_voc07']:.4f} (report: {config.out}/report.md)")
