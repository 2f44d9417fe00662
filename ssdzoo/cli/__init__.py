"""The ``ssdzoo`` command line: ``ssdzoo <command> --help`` for each command.

Each command is one module of this package with an ``add_parser(subparsers)`` function that
wires its arguments to a function of the library; nothing here computes anything itself.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import NoReturn

#: Modules of this package, one per command (or group of commands), in ``--help`` order.
COMMAND_MODULES = ("info", "train", "evaluate", "predict", "export", "bench", "data", "weights")


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line (``ssdzoo X: error: …``), exit 2."""

    def error(self, message: str) -> NoReturn:
        """Print ``<prog>: error: <message>`` on stderr and exit with status 2."""
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The ``ssdzoo`` parser with every command's sub-parser."""
    parser = Parser(prog="ssdzoo", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}").add_parser(sub)
    parser.set_defaults(commands=sub.choices)  # command name -> its parser, for usage errors
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns its exit status (2 for bad input, with one line on stderr)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args, unknown = build_parser().parse_known_args(argv)
    if unknown:  # reported by the command's parser: "ssdzoo train: error: …"
        args.commands[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
    args.argv = list(sys.argv[1:] if argv is None else argv)  # for messages such as "resume with"
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, NotADirectoryError, IsADirectoryError) as err:
        if os.environ.get("SSDZOO_DEBUG"):
            raise
        print(f"ssdzoo {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ssdzoo {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001  (no traceback reaches a CLI user unless asked for)
        if os.environ.get("SSDZOO_DEBUG"):
            raise
        print(f"ssdzoo {args.command}: error: {type(err).__name__}: {err} "
              f"(set SSDZOO_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
