"""The cluster seam's one real implementation: the opensearch-py client built from settings, and its
exceptions translated into shipper.errors. The only module that imports opensearch-py."""

from __future__ import annotations

import gzip
import ipaddress
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import orjson
from opensearchpy import OpenSearch, Urllib3HttpConnection
from opensearchpy import exceptions as os_exc
from opensearchpy.serializer import JSONSerializer

from shipper.errors import (
    AccessDenied,
    ClusterError,
    ConfigError,
    NotFound,
    OpenSearchRejected,
    OpenSearchUnavailable,
    RequestTooLarge,
)
from shipper.opensearch.retry import RETRYABLE_STATUS
from shipper.settings import Settings

# The versions of what was stored: a summary written again later goes under them without a read. No
# `_id`: answers are read by position, and each id is a string per document made by the node and parsed.
_BULK_FILTER = (
    "errors,items.*.status,items.*._seq_no,items.*._primary_term,items.*.error.type,items.*.error.reason"
)


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


class OpenSearchCluster:
    """The cluster seam (shipper.opensearch.cluster.Cluster) over opensearch-py: one call, one request, and
    every library exception translated into shipper.errors on the way out."""

    def __init__(self, client: OpenSearch) -> None:
        self.client = client

    def bulk(self, body: bytes) -> dict[str, Any]:
        answer: dict[str, Any] = self._call(lambda: self.client.bulk(body=body, filter_path=_BULK_FILTER))
        return answer

    def mget(self, docs: list[dict[str, Any]]) -> dict[str, Any]:
        answer: dict[str, Any] = self._call(lambda: self.client.mget(body={"docs": docs}))
        return answer

    def search(self, index: str, body: dict[str, Any]) -> dict[str, Any]:
        params = {"ignore_unavailable": "true", "allow_no_indices": "true"}
        answer: dict[str, Any] = self._call(lambda: self.client.search(index=index, body=body, params=params))
        return answer

    def request(
        self, method: str, path: str, *, body: Any = None, params: dict[str, str] | None = None
    ) -> Any:
        return self._call(
            lambda: self.client.transport.perform_request(method, path, body=body, params=params)
        )

    @staticmethod
    def _call(fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except os_exc.OpenSearchException as exc:
            raise translate(exc) from None


def connect(settings: Settings) -> OpenSearchCluster:
    """The cluster of the configured hosts, auth and TLS; raises ConfigError when none is configured."""
    if not settings.opensearch_url:
        raise ConfigError("no OpenSearch URL configured (--opensearch-url or EXIM_SHIPPER_OPENSEARCH_URL)")
    kwargs: dict[str, Any] = {
        "hosts": settings.opensearch_url,
        "serializer": OrjsonSerializer(),
        "timeout": settings.request_timeout,
        # Retries are the policy's alone (shipper.opensearch.retry): a client retrying inside them would
        # multiply the tries (8 of ours times its own) and hide an outage from the sidecar's status.
        "max_retries": 0,
        "retry_on_timeout": False,
        "http_compress": compressed(settings),
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
    return OpenSearchCluster(OpenSearch(**kwargs))


def compressed(settings: Settings) -> bool:
    """Whether request bodies go gzipped: as `http_compress` says, and when it is unset unless every URL
    names a loopback host. Across a network a body a fifth of its size is worth the CPU; on loopback
    nothing is saved, and the gzip here and the gunzip in the node both take CPU of the one host, which
    the node's indexing is short of."""
    if settings.http_compress is not None:
        return settings.http_compress
    return not all(_loopback(url) for url in settings.opensearch_url)


def _loopback(url: str) -> bool:
    """A URL whose host is `localhost` (RFC 6761: never resolved elsewhere) or a loopback address;
    other names are not resolved here, so they count as remote."""
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def translate(exc: Exception) -> ClusterError:
    """The library's exception as ours: worth another try (OpenSearchUnavailable) or final, on one line
    that never repeats a secret (the URL's credentials are cut)."""
    status = exc.status_code if isinstance(exc, os_exc.TransportError) else None
    code = status if isinstance(status, int) else None
    reason = _reason(exc)
    if isinstance(exc, os_exc.TransportError) and code is not None:
        return _answered(exc, code, reason)
    if isinstance(exc, os_exc.SSLError):
        line = f"TLS failed ({_short(exc)}); check --ca-certs / verify settings"
        # An unverifiable certificate stays so: waiting would hide a configuration error.
        final = "certificate" in str(exc).lower()
        return (
            OpenSearchRejected(line, reason=reason) if final else OpenSearchUnavailable(line, reason=reason)
        )
    if isinstance(exc, os_exc.ConnectionTimeout):
        return OpenSearchUnavailable("timed out talking to OpenSearch", reason=reason)
    if isinstance(exc, os_exc.ConnectionError):
        return OpenSearchUnavailable(f"cannot connect to OpenSearch ({_short(exc)})", reason=reason)
    return OpenSearchRejected(type(exc).__name__)


def _answered(exc: os_exc.TransportError, code: int, reason: str) -> ClusterError:
    """An HTTP answer other than success, by what it means for the caller."""
    # The whole answer is kept for callers that look for a detail in it; it is never shown.
    facts: dict[str, Any] = {"status": code, "reason": reason, "answer": str(exc.info)[:10_000]}
    if isinstance(exc, os_exc.AuthorizationException):
        # Authenticated but not allowed: the reason names the missing permission (docs/security.md).
        return AccessDenied(f"OpenSearch denied this user the request (HTTP 403: {_short(exc)})", **facts)
    if isinstance(exc, os_exc.AuthenticationException):
        return OpenSearchRejected(f"OpenSearch refused the credentials (HTTP {code})", **facts)
    line = f"OpenSearch answered HTTP {code}: {_short(exc)}"
    if _too_large(exc):
        return RequestTooLarge(line, **facts)
    if code == 404:
        return NotFound(line, **facts)
    if code in RETRYABLE_STATUS or code >= 500:
        return OpenSearchUnavailable(line, **facts)
    return OpenSearchRejected(line, **facts)


_OPERATION_BYTES = re.compile(r"coordinating_operation_bytes=(\d+), max_coordinating_and_primary_bytes=(\d+)")


def _too_large(exc: os_exc.TransportError) -> bool:
    """A request the cluster refuses for its own size: HTTP 413 (http.max_content_length), or indexing
    pressure's 429 when the one request is larger than the whole limit."""
    if exc.status_code == 413:
        return True
    if exc.status_code != 429:
        return False
    found = _OPERATION_BYTES.search(str(exc.info) if exc.info is not None else str(exc))
    return found is not None and int(found.group(1)) > int(found.group(2))


def _reason(exc: Exception) -> str:
    """The cluster's own reason (or error type), on one line; "" when it gave none."""
    info = getattr(exc, "info", None)
    error = info.get("error") if isinstance(info, dict) else None
    reason = (error.get("reason") or error.get("type")) if isinstance(error, dict) else None
    return answer_line(str(reason).encode()) if reason else ""


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
    return _without_userinfo(text)[:200]


def _without_userinfo(text: str) -> str:
    """urllib3 messages embed the URL: cut anything that could carry user:password@."""
    return text.split("://", maxsplit=1)[0] if "@" in text else text
