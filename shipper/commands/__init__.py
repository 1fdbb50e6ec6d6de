"""The subcommands' bodies, which shipper.cli parses flags for: exit codes and warnings they share."""

from __future__ import annotations

import sys

# The commands that talk to a cluster import the client, rich and prometheus where they run, not here:
# `trace FILE` and `parse` start with only the parser, as `trace` must be as fast as exigrep.
EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


def warn(line: str | None) -> None:
    """One `exim-shipper: warning: …` line on stderr, when there is something to say."""
    if line:
        print(f"exim-shipper: warning: {line}", file=sys.stderr, flush=True)
