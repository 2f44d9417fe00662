"""``ssdzoo weights``: the shipped weight sets (``list``) and the ImageNet files keras expects
(``path``)."""

from __future__ import annotations

import argparse
import os


def _path(args: argparse.Namespace) -> int:
    from ssdzoo.models.backbone import keras_cache_dir
    from ssdzoo.models.registry import get_backbone, list_backbones
    from ssdzoo.models.weights import imagenet_file_status
    from ssdzoo.utils.keras_internals import keras_home
    from ssdzoo.utils.tables import markdown_table

    names = args.backbones or [n for n in list_backbones() if get_backbone(n).pretrained]
    rows = [[name, *imagenet_file_status(name)] for name in names]
    print(markdown_table(["backbone", "file", "hash", "status"], rows))
    keras_dir = os.path.join(keras_home(), "models")
    if os.path.abspath(keras_dir) != os.path.abspath(keras_cache_dir()):
        print(f"\nNote: keras in this process reads {keras_dir} (KERAS_HOME is read when keras is "
              f"imported); pass the file as weights=<path> to load it from elsewhere.")
    return 0


def _list(args: argparse.Namespace) -> int:
    from ssdzoo.models.weights import manifest_path, weight_set_rows
    from ssdzoo.utils.tables import markdown_table

    header, rows = weight_set_rows()
    print(markdown_table(header, rows))
    print(f"\nmanifest: {manifest_path()}")
    return 0


def run(args: argparse.Namespace) -> int:
    """``list`` or ``path``."""
    return {"list": _list, "path": _path}[args.action](args)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``weights``."""
    p = sub.add_parser("weights", help="installed weight sets, and where ImageNet files live")
    p.add_argument("action", choices=["list", "path"],
                   help="list: the trained weight sets installed with ssdzoo; path: the ImageNet "
                        "files keras.applications expects in the Keras cache")
    p.add_argument("backbones", nargs="*", help="for path: backbones to show (default: all "
                                                "with ImageNet weights)")
    p.set_defaults(func=run)
