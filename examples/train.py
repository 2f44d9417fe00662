"""Train an SSD300 detector on a VOC-format folder with plain ``model.fit``.

The folder needs ``Annotations/``, ``JPEGImages/`` and ``ImageSets/Main/{trainval,test}.txt``.
The model trains on ``trainval``; ``test`` is scored (VOC07 mAP@0.5) after every epoch.

    python examples/train.py --backbone mobilenet --data data/BCCD --epochs 40

Writes into ``--out``: ``log.csv`` (loss and val_map per epoch), ``tensorboard/`` and
``best.keras`` (the model with the best val_map; load it with ``ssdzoo.load``).
"""

import argparse
import os

import keras

import ssdzoo


def parse_args():
    parser = argparse.ArgumentParser(description="Train an SSD300 detector on a VOC-format folder.")
    parser.add_argument("--backbone", default="mobilenet", choices=ssdzoo.list_backbones())
    parser.add_argument("--data", default="data/BCCD", help="VOC-format dataset folder")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--weights", default="imagenet",
                        help="backbone weights: imagenet, none, or a weights file")
    parser.add_argument("--head-width", type=float, default=1.0,
                        help="width multiplier of the SSD head (1.0 = the paper's)")
    parser.add_argument("--out", default="runs/example", help="output folder")
    return parser.parse_args()


def build_model(args, class_names):
    """The SSD for ``args``; with ImageNet weights asked for but not to be had (no internet,
    or a backbone without them) it trains from scratch and says so."""
    options = dict(num_classes=len(class_names), class_names=class_names, head_width=args.head_width)
    if args.weights == "imagenet":
        model, note = ssdzoo.build_imagenet_or_scratch(args.backbone, **options)
        print(f"backbone weights: {note}")
        return model
    return ssdzoo.build(args.backbone, weights=None if args.weights == "none" else args.weights, **options)


def main():
    args = parse_args()
    os.makedirs(args.out, exist_ok=True)

    ds = ssdzoo.data.load(args.data, format="voc", split="trainval")
    test = ssdzoo.data.load(args.data, format="voc", split="test")
    model = build_model(args, ds.class_names)
    train = ssdzoo.data.pipeline(ds, model, batch_size=args.batch_size, augment=True)
    # Clipping the gradient norm keeps backbones without BatchNorm (VGG) from diverging
    # when they start from scratch; it leaves ordinary steps alone.
    optimizer = keras.optimizers.SGD(1e-3, momentum=0.9, global_clipnorm=10.0)
    model.compile(optimizer=optimizer, loss=ssdzoo.MultiBoxLoss())

    callbacks = [
        # First, so that the val_map it adds to the logs reaches the callbacks after it.
        ssdzoo.callbacks.EvaluateMAP(test),
        keras.callbacks.CSVLogger(os.path.join(args.out, "log.csv")),
        keras.callbacks.TensorBoard(os.path.join(args.out, "tensorboard")),
        keras.callbacks.ModelCheckpoint(os.path.join(args.out, "best.keras"), monitor="val_map",
                                        mode="max", save_best_only=True),
    ]
    history = model.fit(train, epochs=args.epochs, callbacks=callbacks,
                        shuffle=False)  # the pipeline shuffles
    print(f"best val mAP (VOC07) {max(history.history['val_map']):.4f}: "
          f"{os.path.join(args.out, 'best.keras')}")


if __name__ == "__main__":
    main()
