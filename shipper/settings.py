"""The one settings root: defaults, then an optional TOML file, then EXIM_SHIPPER_* variables, then flags."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

CONFIG_ENV = "EXIM_SHIPPER_CONFIG"


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


def _default_state_dir() -> Path:
    if os.geteuid() == 0:
        return Path("/var/lib/exim-shipper")
    return Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state")) / "exim-shipper"


def url_without_userinfo(url: str) -> str:
    """The URL as it may be shown: everything up to the last `@` after the scheme goes, since a password
    may itself hold `@`, `/` or `:` and then no parser can tell where it ends."""
    scheme, sep, rest = url.strip().partition("://")
    if not sep:
        scheme, rest = "", scheme
    return f"{scheme}{sep}{rest.rpartition('@')[2]}"


def split_address(address: str) -> tuple[str, int]:
    """`HOST:PORT` (or `[IPv6]:PORT`, or `:PORT` for every interface) as (host, port)."""
    host, sep, port = address.strip().rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{address!r}: expected HOST:PORT with a port from 1 to 65535")
    return host.removeprefix("[").removesuffix("]") or "0.0.0.0", int(
        port
    )  # ":PORT" asks for every interface


class Settings(BaseSettings):
    """Everything configurable, with the defaults a cPanel server needs."""

    model_config = SettingsConfigDict(env_prefix="EXIM_SHIPPER_", env_nested_delimiter="__", extra="ignore")

    timezone: str = ""
    """IANA zone of timestamps without `±hhmm`; empty means the machine's zone."""
    server_name: str = ""
    """host.name of the Exim server; empty means this machine's host name (or, for syslog and journal
    input, the host each record names)."""
    input_format: Literal["auto", "exim", "syslog", "journal"] = "auto"
    """What the log files are: `exim` (Exim's own log files), `syslog` (Exim logging through syslog,
    `log_file_path = syslog`: a mail.log in BSD, RFC 3339 high-precision or RFC 5424 form), `journal`
    (`journalctl -o json` output), or `auto`, detected per file from its first lines."""
    syslog_programs: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["exim", "exim4"])
    """Syslog program names (tags) that are Exim (comma-separated in the environment); lines of other
    programs in a syslog file or journal export (postfix, dovecot, …) are skipped and counted."""

    opensearch_url: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """One or more node URLs (comma-separated in the environment)."""
    username: str | None = None
    password: SecretStr | None = None
    api_key: SecretStr | None = None
    ca_certs: Path | None = None
    verify_certs: bool = True
    request_timeout: float = 30.0
    http_compress: bool = True
    """gzip request bodies: a fleet ships across networks; off saves CPU when the cluster is on loopback."""
    index_prefix: str = "exim"
    retention: str = "30d"
    """Age after which daily event indices are deleted by the ISM/ILM policy."""
    dashboards_url: str | None = None
    """OpenSearch Dashboards (or Kibana) base URL; `setup` imports the kibana/ saved objects there."""

    state_dir: Path = Field(default_factory=_default_state_dir)
    batch_max_docs: int = 2000
    batch_max_bytes: int = 5 * 1024 * 1024
    batch_max_age: float = 2.0
    """Seconds a half-full batch may wait before it is sent (so a quiet sidecar still ships)."""
    max_open_messages: int = 100_000
    summary_window: int = 4 * 1024 * 1024
    """Backfill: bytes of log a message may span before its summary is written as it stands (it merges
    with the rest later); bounds what a resume re-reads. Shorter messages are written once, whole."""
    paths: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["/var/log/exim_mainlog", "/var/log/exim_rejectlog", "/var/log/exim_paniclog"]
    )
    """Files or globs the sidecar follows (comma-separated in the environment); cPanel's by default."""
    scan_interval: float = 1.0
    close_inactive: float = 300.0
    """Seconds a rotated-away file is still read after its last growth (Exim may still append to it)."""
    retry_initial_wait: float = 0.5
    retry_max_wait: float = 30.0
    backfill_max_retries: int = 8
    """Per-request retries in backfill mode (the sidecar retries for ever)."""

    log_format: Literal["text", "json"] = "text"
    """Log lines on stderr: `text` for people (`2026-12-01T10:00:00Z INFO exim-shipper: ...`), `json` for a
    log collector (one object per line: time, level, logger, message and the line's fields)."""
    metrics_address: str | None = None
    """HOST:PORT where the sidecar serves Prometheus metrics on /metrics; none by default (opt-in)."""
    stats_interval: float = Field(default=60.0, gt=0)
    """Seconds between the sidecar's stats lines (counts, and lag per file in bytes and seconds)."""
    outage_reminder_interval: float = Field(default=60.0, gt=0)
    """Seconds between the reminders that the cluster is still unreachable (with the backlog's size and age);
    the first failure is logged at once."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config = os.environ.get(CONFIG_ENV)
        if config:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config)))
        return tuple(sources)

    @field_validator("opensearch_url", "paths", "syslog_programs", mode="before")
    @classmethod
    def _split_urls(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [u.strip() for u in value.split(",") if u.strip()]
        return value

    @field_validator("opensearch_url", "dashboards_url")
    @classmethod
    def _urls_are_http(cls, value: list[str] | str | None) -> list[str] | str | None:
        """http(s)://host[:port][/path], checked here so that a bad URL is one line naming the setting,
        not an exception from the client; the message never repeats user:password@."""
        for url in [value] if isinstance(value, str) else value or []:
            if not url.strip():  # an empty dashboards URL means none
                continue
            shown = repr(url_without_userinfo(url))
            try:
                parts = urlsplit(url.strip())
            except ValueError:  # an unclosed [IPv6 literal
                raise ValueError(f"{shown}: not a URL, expected http(s)://host[:port][/path]") from None
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"{shown}: expected http(s)://host[:port][/path]")
            if "@" in url.strip()[len(parts.scheme) + 3 + len(parts.netloc) :]:
                # `http://user:pa/ss@host`: the host parsed is part of the password
                raise ValueError(
                    f"{shown}: '@' after the host; percent-encode / ? # @ in the user and password"
                )
            try:
                port = parts.port
            except ValueError:
                port = 0
            if port == 0:
                raise ValueError(f"{shown}: the port must be a number from 1 to 65535")
        return value

    @field_validator("metrics_address")
    @classmethod
    def _host_and_port(cls, value: str | None) -> str | None:
        if value is not None:
            split_address(value)
        return value

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

    @field_validator("index_prefix")
    @classmethod
    def _prefix_is_index_safe(cls, value: str) -> str:
        if not value or value != value.lower() or any(c in value for c in ' \\/*?"<>|,#:'):
            raise ValueError(f"{value!r} is not a valid lower-case index prefix")
        return value

    def effective_timezone(self) -> str:
        return self.timezone or local_zone_name()

    def effective_server_name(self) -> str:
        return self.server_name or socket.gethostname()
