"""Import the kibana/ saved objects into OpenSearch Dashboards (or Kibana) through its saved-objects API."""

from __future__ import annotations

import base64
import http.client
import ssl
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any, NamedTuple

import orjson

from shipper.errors import ClusterError, ConfigError, OpenSearchRejected, OpenSearchUnavailable
from shipper.opensearch.connection import answer_line
from shipper.settings import Settings, url_without_userinfo

# Package data, so an installed wheel carries it; the repository's kibana/ links here.
SAVED_OBJECTS = resources.files("shipper") / "kibana" / "exim-shipper.ndjson"
IMPORT_PATH = "/api/saved_objects/_import"
# The index prefix the committed objects were written for (see tools/build_saved_objects.py).
DEFAULT_PREFIX = "exim"
_KINDS = ("events", "messages")


class ImportReport(NamedTuple):
    """What the import did, as lines for the user; `ok` is False when any object failed."""

    lines: list[str]
    ok: bool


def retarget(ndjson: bytes, prefix: str) -> bytes:
    """The same objects aimed at `<prefix>-events-*` / `<prefix>-messages-*` instead of the default prefix.

    Only index-pattern titles and TSVB's index name change: everything else refers to index patterns by
    id, so the ids (and a later re-import) stay the same whatever the prefix. ValueError names the first
    line that is not a saved object (a JSON object), whatever the prefix: such a file is not sent.
    """
    objects: list[dict[str, Any]] = []
    for number, line in enumerate(ndjson.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            obj = None
        if not isinstance(obj, dict):
            raise ValueError(f"line {number} is not a saved object (one JSON object per line expected)")
        objects.append(obj)
    if prefix == DEFAULT_PREFIX:
        return ndjson
    renames = {f"{DEFAULT_PREFIX}-{kind}-*": f"{prefix}-{kind}-*" for kind in _KINDS}
    out: list[bytes] = []
    for obj in objects:
        attrs = obj.get("attributes", {})
        if obj.get("type") == "index-pattern" and attrs.get("title") in renames:
            attrs["title"] = renames[attrs["title"]]
        elif obj.get("type") == "visualization" and "visState" in attrs:
            vis = orjson.loads(attrs["visState"])
            params = vis.get("params", {})
            if vis.get("type") == "metrics" and params.get("index_pattern") in renames:
                params["index_pattern"] = renames[params["index_pattern"]]
                attrs["visState"] = orjson.dumps(vis).decode()
        out.append(orjson.dumps(obj))
    return b"\n".join(out) + b"\n"


def _split_url(url: str) -> tuple[str, str | None, str | None]:
    """(URL without credentials, user, password): credentials in the URL become basic auth, never output.

    The URL is one Settings has validated (http or https, a host, a port that parses).
    """
    parts = urllib.parse.urlsplit(url.strip())
    hostname = parts.hostname or ""
    host = f"[{hostname}]" if ":" in hostname else hostname
    netloc = f"{host}:{parts.port}" if parts.port else host
    clean = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
    user = urllib.parse.unquote(parts.username) if parts.username else None
    password = urllib.parse.unquote(parts.password) if parts.password else None
    return clean, user, password


def _multipart(filename: str, data: bytes) -> tuple[bytes, str]:
    boundary = f"exim-shipper-{uuid.uuid4().hex}"
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/ndjson\r\n\r\n"
    ).encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def _headers(settings: Settings, user: str | None, password: str | None) -> dict[str, str]:
    # Dashboards wants osd-xsrf, Kibana kbn-xsrf; each ignores the other's, so one request suits both.
    headers = {"osd-xsrf": "true", "kbn-xsrf": "true", "Accept": "application/json"}
    if settings.api_key is not None:
        headers["Authorization"] = f"ApiKey {settings.api_key.get_secret_value()}"
    elif settings.username is not None or user is not None:
        name = settings.username if settings.username is not None else user or ""
        secret = settings.password.get_secret_value() if settings.password is not None else password or ""
        token = base64.b64encode(f"{name}:{secret}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    return headers


def _ssl_context(settings: Settings) -> ssl.SSLContext:
    cafile = settings.ca_certs
    try:
        ctx = ssl.create_default_context(cafile=str(cafile) if cafile else None)
    except OSError as exc:  # ssl.SSLError is one: a file without a certificate in it
        reason = exc.reason if isinstance(exc, ssl.SSLError) else exc.strerror
        raise ConfigError(f"CA bundle {cafile} (--ca-certs): cannot use it ({reason or exc})") from None
    if not settings.verify_certs:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _error_message(body: bytes) -> str:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return answer_line(body)
    if isinstance(data, dict):
        return answer_line(str(data.get("message") or data.get("error") or "").encode())
    return ""


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Redirects are not followed: urllib would send the credentials on to wherever the answer points
    (and turn the import's POST into a GET). Returning None leaves the 3xx to end as an HTTPError."""

    def redirect_request(self, *_: Any, **__: Any) -> None:
        return None


def import_saved_objects(settings: Settings, source: Traversable | None = None) -> ImportReport:
    """POST saved objects to `<dashboards_url>/api/saved_objects/_import?overwrite=true`; report per object.

    `source` is the packaged SAVED_OBJECTS unless a caller names another file.
    """
    if not settings.dashboards_url:
        raise ConfigError("no Dashboards URL configured (--dashboards-url or EXIM_SHIPPER_DASHBOARDS_URL)")
    base, user, password = _split_url(settings.dashboards_url)
    source = source or SAVED_OBJECTS
    body, content_type = _multipart(source.name, _read_objects(source, settings.index_prefix))
    headers = _headers(settings, user, password)
    headers["Content-Type"] = content_type
    request = urllib.request.Request(
        f"{base}{IMPORT_PATH}?overwrite=true", data=body, headers=headers, method="POST"
    )
    handlers: list[urllib.request.BaseHandler] = [_NoRedirects()]
    if base.startswith("https:"):
        handlers.append(urllib.request.HTTPSHandler(context=_ssl_context(settings)))
    opener = urllib.request.build_opener(*handlers)
    what = f"dashboards {base}"
    answer = _send(opener, request, what, settings.request_timeout)
    try:
        result = orjson.loads(answer)
    except orjson.JSONDecodeError:
        result = None
    if not isinstance(result, dict) or "successCount" not in result:
        raise OpenSearchRejected(f"{what}: unexpected answer (not the saved-objects import API?)")
    return describe(result)


def _read_objects(source: Traversable, prefix: str) -> bytes:
    """The file's saved objects aimed at `prefix`; a file that cannot be sent is a ConfigError."""
    try:
        return retarget(source.read_bytes(), prefix)
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read saved objects ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def _send(
    opener: urllib.request.OpenerDirector, request: urllib.request.Request, what: str, timeout: float
) -> bytes:
    """The answer's body; every way the request can fail is one line for the user, as a ShipperError."""
    try:
        with opener.open(request, timeout=timeout) as resp:
            answer: bytes = resp.read()
    except urllib.error.HTTPError as exc:
        raise _refusal(exc, request.full_url, what) from None
    except urllib.error.URLError as exc:
        raise _unreachable(exc.reason, what) from None
    except TimeoutError:
        raise OpenSearchUnavailable(f"{what}: timed out") from None
    except OSError as exc:  # e.g. the connection reset while the answer was read
        raise OpenSearchUnavailable(
            f"{what}: connection failed ({exc.strerror or type(exc).__name__})"
        ) from None
    except http.client.HTTPException as exc:
        raise OpenSearchUnavailable(f"{what}: not an HTTP answer ({type(exc).__name__})") from None
    return answer


def _refusal(exc: urllib.error.HTTPError, url: str, what: str) -> OpenSearchRejected:
    """What an HTTP error answer to the import means, for the user."""
    if 300 <= exc.code < 400 and exc.headers.get("Location"):
        target = urllib.parse.urljoin(url, exc.headers["Location"])
        return OpenSearchRejected(f"{what}: redirected to {url_without_userinfo(target)}; give the final URL")
    try:
        detail = _error_message(exc.read())
    except (OSError, http.client.HTTPException):  # the error page itself was cut off
        detail = ""
    if exc.code == 401:
        return OpenSearchRejected(f"{what}: the credentials were refused (HTTP 401)")
    if exc.code == 403:
        return OpenSearchRejected(f"{what}: this user may not import saved objects (HTTP 403)")
    if exc.code == 404:
        return OpenSearchRejected(
            f"{what}: HTTP 404, no saved-objects API there (is this the Dashboards URL, with its base path?)"
        )
    return OpenSearchRejected(f"{what}: HTTP {exc.code}: {detail or exc.reason}")


def _unreachable(reason: str | BaseException, what: str) -> ClusterError:
    """What a failure to reach Dashboards (URLError's reason) means, for the user."""
    if isinstance(reason, ssl.SSLError):
        return OpenSearchRejected(f"{what}: TLS failed ({reason.reason or reason}); check --ca-certs")
    if isinstance(reason, TimeoutError):
        return OpenSearchUnavailable(f"{what}: timed out")
    text = reason.strerror if isinstance(reason, OSError) and reason.strerror else str(reason)
    return OpenSearchUnavailable(f"{what}: cannot connect ({text})")


def describe(result: dict[str, Any]) -> ImportReport:
    """Report lines for an import response (`success`, `successCount`, `successResults`, `errors`)."""
    done = int(result.get("successCount") or 0)
    results = [r for r in result.get("successResults") or [] if isinstance(r, dict)]
    errors = [e for e in result.get("errors") or [] if isinstance(e, dict)]
    kinds = Counter(str(r.get("type")) for r in results)
    by_kind = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
    how = "overwrite"
    if results:  # Dashboards marks `overwrite: true` only on objects that already existed
        replaced = sum(1 for r in results if r.get("overwrite"))
        how = f"overwrite: {len(results) - replaced} new, {replaced} replaced"
    failed = f", {len(errors)} failed" if errors else ""
    lines = [f"saved objects: {done} imported{failed} ({how})" + (f": {by_kind}" if by_kind else "")]
    lines += [_error_line(e) for e in errors]
    ok = bool(result.get("success")) and not errors
    return ImportReport(lines, ok)


def _error_line(err: dict[str, Any]) -> str:
    meta = err.get("meta")
    title = (meta.get("title") if isinstance(meta, dict) else None) or err.get("title")
    name = f"{err.get('type')} {err.get('id')}" + (f" ({title})" if title else "")
    raw = err.get("error")
    detail: dict[str, Any] = raw if isinstance(raw, dict) else {}
    kind = detail.get("type")
    if kind == "missing_references":
        refs = ", ".join(f"{r.get('type')} {r.get('id')}" for r in detail.get("references") or [])
        reason = f"missing references: {refs}"
    elif kind == "unsupported_type":
        reason = "type not supported by this Dashboards (a plugin is disabled?)"
    elif kind in ("conflict", "ambiguous_conflict"):
        reason = f"{kind.replace('_', ' ')} with an existing object"
    elif kind == "unknown":
        reason = f"{detail.get('message') or 'unknown error'} (HTTP {detail.get('statusCode')})"
    else:
        reason = str(kind or "failed")
    return f"saved object {name}: {reason}"
