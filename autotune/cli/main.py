"""Entry point of the `autotune` command: parses arguments and dispatches to a subcommand.

Subcommand modules expose `add_parser(subparsers)` and `run(args) -> int`; they import
their backends lazily so that `autotune --help` and lookups start fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

SUBCOMMANDS = {
    "tune": "autotune.cli.tune",
    "best": "autotune.cli.best",
    "space": "autotune.cli.space",
    "db": "autotune.cli.db",
    "costmodel": "autotune.cli.costmodel",
    "report": "autotune.cli.report",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autotune", description="Learned autotuner for TVM and XLA with a shared tuning database."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in SUBCOMMANDS.values():
        importlib.import_module(module).add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from autotune.errors import USER_ERRORS

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except USER_ERRORS as exc:
        print(f"autotune: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("autotune: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`autotune db stats | head -1`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
