"""The OpenSearch client built from settings, and translation of its exceptions into ours."""

from __future__ import annotations

import gzip
import re
from typing import Any

import orjson
from opensearchpy import OpenSearch, Urllib3HttpConnection
from opensearchpy import exceptions as os_exc
from opensearchpy.serializer import JSONSerializer

from shipper.errors import ConfigError, OpenSearchRejected, OpenSearchUnavailable, ShipperError
from shipper.opensearch import retry
from shipper.settings import Settings


class OrjsonSerializer(JSONSerializer):
    """orjson for request bodies, kept as bytes: a 5 MB bulk body is sent as built, not decoded to
    `str` and encoded back (two more copies of it per request)."""

    def dumps(self, data: Any) -> str | bytes:
        if isinstance(data, str | bytes):
            return data
        return orjson.dumps(data)

    def loads(self, s: str) -> Any:
        return orjson.loads(s)


class FastGzipConnection(Urllib3HttpConnection):
    """gzip at level 1 instead of 9: a third of the CPU for bodies about a fifth larger, and the CPU is
    what a busy mail server (or a node sharing the host) is short of."""

    def _gzip_compress(self, body: Any) -> bytes:
        data = body if isinstance(body, bytes) else str(body).encode()
        return gzip.compress(data, compresslevel=1)


def make_client(settings: Settings) -> OpenSearch:
    """A client for the configured hosts, auth and TLS; raises ConfigError when none is configured."""
    retry.configure(settings.retry_initial_wait, settings.retry_max_wait)
    if not settings.opensearch_url:
        raise ConfigError("no OpenSearch URL configured (--opensearch-url or EXIM_SHIPPER_OPENSEARCH_URL)")
    kwargs: dict[str, Any] = {
        "hosts": settings.opensearch_url,
        "serializer": OrjsonSerializer(),
        "timeout": settings.request_timeout,
        "max_retries": 0,  # retries are ours (shipper.opensearch.retry), per request and per item
        "http_compress": settings.http_compress,
        "connection_class": FastGzipConnection,
    }
    if settings.username is not None:
        password = settings.password.get_secret_value() if settings.password is not None else ""
        kwargs["http_auth"] = (settings.username, password)
    if settings.api_key is not None:
        kwargs["headers"] = {"Authorization": f"ApiKey {settings.api_key.get_secret_value()}"}
    if any(u.startswith("https") for u in settings.opensearch_url):
        kwargs["use_ssl"] = True
        kwargs["verify_certs"] = settings.verify_certs
        if settings.ca_certs is not None:
            kwargs["ca_certs"] = str(settings.ca_certs)
        if not settings.verify_certs:
            kwargs["ssl_show_warn"] = False
    return OpenSearch(**kwargs)


def translate(exc: Exception, what: str) -> ShipperError:
    """One clear line for the user, never a secret: the URL's credentials are not repeated."""
    if isinstance(exc, os_exc.SSLError):
        return OpenSearchRejected(f"{what}: TLS failed ({_short(exc)}); check --ca-certs / verify settings")
    if isinstance(exc, os_exc.ConnectionTimeout):
        return OpenSearchUnavailable(f"{what}: timed out talking to OpenSearch")
    if isinstance(exc, os_exc.ConnectionError):
        return OpenSearchUnavailable(f"{what}: cannot connect to OpenSearch ({_short(exc)})")
    if isinstance(exc, os_exc.AuthorizationException):
        # Authenticated but not allowed: the reason names the missing permission (docs/security.md).
        reason = _short(exc)
        return OpenSearchRejected(f"{what}: OpenSearch denied this user the request (HTTP 403: {reason})")
    if isinstance(exc, os_exc.AuthenticationException):
        return OpenSearchRejected(f"{what}: OpenSearch refused the credentials (HTTP {exc.status_code})")
    if isinstance(exc, os_exc.TransportError):
        return OpenSearchRejected(f"{what}: OpenSearch answered HTTP {exc.status_code}: {_short(exc)}")
    return OpenSearchUnavailable(f"{what}: {type(exc).__name__}")


_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def answer_line(body: bytes, limit: int = 200) -> str:
    """What a server answered, as one line: an HTML page's <title> (a proxy's 502 page says it all
    there), else the text with its whitespace folded; at most `limit` characters."""
    title = _TITLE.search(body)
    text = (title.group(1) if title else body).decode(errors="replace")
    return " ".join(text.split())[:limit]


def _short(exc: Exception) -> str:
    info = getattr(exc, "info", None)
    if isinstance(info, dict):
        reason = info.get("error", {})
        if isinstance(reason, dict):
            return str(reason.get("reason") or reason.get("type") or "")[:200]
    err = getattr(exc, "error", None)
    text = str(err if err else exc)
    if isinstance(info, str) and "<title>" in info.lower():
        text = info  # a proxy's HTML error page: its title is the message
    text = answer_line(text.encode(), limit=10_000)  # one line, whatever the server sent
    # urllib3 messages embed the URL; strip anything that could carry user:password@
    return text.split("://", maxsplit=1)[0][:200] if "@" in text else text[:200]
