"""The one settings root: environment (EXIM_SHIPPER_*), then command-line overrides."""

from __future__ import annotations

import socket
from pathlib import Path

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


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


class Settings(BaseSettings):
    """Everything configurable, with the defaults a cPanel server needs."""

    model_config = SettingsConfigDict(env_prefix="EXIM_SHIPPER_", env_nested_delimiter="__", extra="ignore")

    timezone: str = ""
    """IANA zone of timestamps without `±hhmm`; empty means the machine's zone."""
    server_name: str = ""
    """host.name of the Exim server; empty means this machine's host name."""

    @field_validator("timezone")
    @classmethod
    def _zone_exists(cls, value: str) -> str:
        if value:
            from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # noqa: PLC0415

            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    def effective_timezone(self) -> str:
        return self.timezone or local_zone_name()

    def effective_server_name(self) -> str:
        return self.server_name or socket.gethostname()
