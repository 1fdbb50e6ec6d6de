"""The entry point of `python -m shipper` and the `exim-shipper` script: the quick start, else the CLI."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from shipper import quick_start


def main(argv: Sequence[str] | None = None) -> int:
    """`trace` over files on shipper.quick_start when it can run there, any other command line in
    shipper.cli (which imports pydantic-settings to build the Settings)."""
    args = sys.argv[1:] if argv is None else list(argv)
    rc = quick_start.run(args, os.environ)
    if rc is None:
        from shipper.cli import main as cli_main  # noqa: PLC0415 - the quick start goes without it

        rc = cli_main(args)
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
