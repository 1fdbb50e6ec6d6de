"""What this machine says when a setting is left empty: its time zone and its host name.

Apart from shipper.settings so that `trace` over files (shipper.quick_start) can ask without the settings
machinery's import.
"""

from __future__ import annotations

import socket
from pathlib import Path


def local_zone_name() -> str:
    """The machine's IANA zone name (from /etc/timezone or the /etc/localtime link), else UTC."""
    tz_file = Path("/etc/timezone")
    try:
        name = tz_file.read_text().strip()
        if name:
            return name
    except OSError:
        pass
    try:
        target = str(Path("/etc/localtime").resolve())
    except OSError:
        return "UTC"
    marker = "zoneinfo/"
    return target.split(marker, 1)[1] if marker in target else "UTC"


def host_name() -> str:
    return socket.gethostname()
