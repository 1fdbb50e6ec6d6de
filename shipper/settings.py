"""The one settings root and where its values come from: defaults < TOML file < EXIM_SHIPPER_* < flags."""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import pydantic
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from shipper.errors import ConfigError
from shipper.machine import host_name, local_zone_name

ENV_PREFIX = "EXIM_SHIPPER_"
CONFIG_ENV = "EXIM_SHIPPER_CONFIG"
# EXIM_SHIPPER_* variables that are not settings: read elsewhere in the package, by the container's
# entrypoint or by the development tools; EXIM_SHIPPER_TEST_* belong to the test suite.
OTHER_VARIABLES = frozenset(
    {
        CONFIG_ENV,
        "EXIM_SHIPPER_SETUP_TIMEOUT",
        "EXIM_SHIPPER_SETUP_RETRY_DELAY",
        "EXIM_SHIPPER_CACHE",
        "EXIM_SHIPPER_OPENSEARCH_VERSION",
        "EXIM_SHIPPER_OPENSEARCH_PLUGINS",
        "EXIM_SHIPPER_ELASTICSEARCH_VERSION",
        "EXIM_SHIPPER_BENCH_URL",
    }
)
_TEST_VARIABLES = "EXIM_SHIPPER_TEST_"

# The config file's values while `load` builds a Settings (a source cannot be handed arguments).
_FILE: ContextVar[Mapping[str, Any]] = ContextVar("exim_shipper_config_file", default=MappingProxyType({}))


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

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", use_attribute_docstrings=True)

    timezone: str = ""
    """IANA zone of timestamps written without `±hhmm`; empty means the machine's zone."""
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
    """Node URL, one or more (comma-separated in the environment), without credentials in it."""
    username: str | None = None
    """Basic-auth user; its password comes from `password` or `password_file`."""
    password: SecretStr | None = None
    """Basic-auth password (environment or config file only, never a flag)."""
    password_file: Path | None = None
    """File holding the basic-auth password (trailing newline ignored)."""
    api_key: SecretStr | None = None
    """API key sent as `Authorization: ApiKey …` (environment or config file only, never a flag)."""
    api_key_file: Path | None = None
    """File holding the API key (trailing newline ignored)."""
    ca_certs: Path | None = None
    """CA bundle to verify the cluster's (and Dashboards') TLS certificate."""
    verify_certs: bool = True
    """Verify TLS certificates; off only for a test cluster."""
    request_timeout: float = 30.0
    """Seconds to wait for one answer from the cluster."""
    http_compress: bool | None = None
    """gzip request bodies; unset: on, but off when every OpenSearch URL is a loopback host (no network to
    save, and the host's CPU would pay for both the gzip and the node's gunzip)."""
    index_prefix: str = "exim"
    """Index and template name prefix: `<prefix>-events-YYYY.MM.DD`, `<prefix>-messages-YYYY.MM`."""
    retention: str = "30d"
    """Age after which daily event indices are deleted by the ISM/ILM policy (`setup`)."""
    dashboards_url: str | None = None
    """OpenSearch Dashboards (or Kibana) base URL; `setup` imports the saved objects there."""

    state_dir: Path = Field(default_factory=_default_state_dir)
    """Where checkpoints and dead letters live."""
    batch_max_docs: int = 2000
    """Documents per bulk request at most."""
    batch_max_bytes: int = 5 * 1024 * 1024
    """Bytes per bulk request at most."""
    batch_max_age: float = 0.25
    """Tail mode: at most one half-full batch is sent per this many seconds, so a line waits at most
    this long (one after a quiet spell is sent at once); backfill batches by docs and bytes only."""
    max_open_messages: int = 100_000
    """Unfinished messages held in memory; past it the oldest is written as it stands."""
    summary_window: int = 4 * 1024 * 1024
    """Backfill: bytes of log a message may span before its summary is written as it stands (it merges
    with the rest later); bounds what a resume re-reads. Shorter messages are written once, whole."""
    paths: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["/var/log/exim_mainlog", "/var/log/exim_rejectlog", "/var/log/exim_paniclog"]
    )
    """Files or globs the sidecar follows (comma-separated in the environment); cPanel's by default."""
    scan_interval: float = 1.0
    """Seconds between looks for new files (rotation, globs); files already open are polled every
    50 ms while they grow, backing off to 250 ms when quiet."""
    close_inactive: float = 300.0
    """Seconds a rotated-away file is still read after its last growth (Exim may still append to it)."""
    retry_initial_wait: float = 0.5
    """Seconds before the first retry of a failed request (doubling up to `retry_max_wait`)."""
    retry_max_wait: float = 30.0
    """Longest wait between two retries, in seconds."""
    backfill_max_retries: int = 8
    """Tries of one batch in backfill mode before it gives up: its request, the items sent again and its
    summary merges draw on this one count (shipper.opensearch.retry); the sidecar retries for ever."""

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
        # Highest first: flags (init), then EXIM_SHIPPER_* variables, then the config file's values.
        return (init_settings, env_settings, _FileValues(settings_cls))

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
            if "@" in url:
                # Any userinfo, wherever a password's own / or @ would make a parser end it.
                raise ValueError(
                    f"{shown}: no user:password@ in URLs (they show in `ps`, logs and shell history); "
                    "set username with password or password_file, or api_key_file, instead"
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
            except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # OSError: `Europe`, a folder
                raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("index_prefix")
    @classmethod
    def _prefix_is_index_safe(cls, value: str) -> str:
        if not value or value != value.lower() or any(c in value for c in ' \\/*?"<>|,#:'):
            raise ValueError(f"{value!r} is not a valid lower-case index prefix")
        return value

    @model_validator(mode="after")
    def _read_secret_files(self) -> Settings:
        """password_file / api_key_file: the secret is read once, here, and kept like a given one."""
        for secret, file_setting in (("password", "password_file"), ("api_key", "api_key_file")):
            path: Path | None = getattr(self, file_setting)
            if path is None:
                continue
            if getattr(self, secret) is not None:
                raise ValueError(f"{file_setting}: {secret} is set too; keep one of them")
            try:
                text = path.read_text().rstrip("\r\n")
            except OSError as exc:
                raise ValueError(f"{file_setting}: cannot read {path} ({exc.strerror or exc})") from None
            except UnicodeDecodeError:
                raise ValueError(f"{file_setting}: {path} is not text") from None
            if not text:
                raise ValueError(f"{file_setting}: {path} is empty")
            setattr(self, secret, SecretStr(text))
        return self

    def effective_timezone(self) -> str:
        return self.timezone or local_zone_name()

    def effective_server_name(self) -> str:
        return self.server_name or host_name()


class _FileValues(PydanticBaseSettingsSource):
    """The config file's values, already read and checked by `load`, below the environment's."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return _FILE.get().get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_FILE.get())


def read_config(path: Path, named_by: str) -> dict[str, Any]:
    """The TOML file's settings; a missing or unreadable file, bad TOML or an unknown key is one line."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file (named by {named_by})") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a config file (named by {named_by})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a TOML file (not UTF-8 text)") from None
    try:
        values = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # "Invalid value (at line 2, column 5)" -> "line 2, column 5: Invalid value"
        reason, _, where = str(exc).rpartition(" (at ")
        if not reason:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        raise ConfigError(f"{path}: {where.rstrip(')')}: not valid TOML: {reason}") from None
    known = list(Settings.model_fields)
    for key in values:
        if key not in Settings.model_fields:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{path}: unknown setting {key!r}{hint}")
    return values


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """EXIM_SHIPPER_* variables that no setting reads: a typo there would otherwise go unnoticed."""
    known = {ENV_PREFIX + name.upper() for name in Settings.model_fields} | OTHER_VARIABLES
    lines = []
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper in known or upper.startswith(_TEST_VARIABLES):
            continue
        close = difflib.get_close_matches(upper, sorted(known), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        lines.append(f"{name} is not a setting and is ignored{hint}")
    return lines


def load(flags: Mapping[str, Any], config: str | None = None) -> Settings:
    """Settings from defaults < the TOML file (`config`, else EXIM_SHIPPER_CONFIG) < EXIM_SHIPPER_* <
    `flags`; any problem is one ConfigError line naming where the bad value came from."""
    named_by = "--config"
    if config is None:
        config, named_by = os.environ.get(CONFIG_ENV) or None, CONFIG_ENV
    path = Path(config) if config else None
    values = read_config(path, named_by) if path is not None else {}
    token = _FILE.set(MappingProxyType(values))
    try:
        return Settings(**flags)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        message = first["msg"].removeprefix("Value error, ")
        if first["loc"]:
            key = str(first["loc"][0])
        else:  # a check across settings: its message starts with the setting it is about
            key, _, message = message.partition(": ")
        where = f"invalid setting {key}: {message}"
        from_file = path is not None and key in values and key not in flags
        from_env = any(name.upper() == ENV_PREFIX + key.upper() for name in os.environ)
        raise ConfigError(f"{path}: {where}" if from_file and not from_env else where) from None
    finally:
        _FILE.reset(token)
