"""`setup --dashboards-url`: a contract test of the saved-objects import client, not a real Dashboards.

OpenSearch Dashboards is not installable here (no npm/PyPI/Maven package), so a small local HTTP server
plays its `POST /api/saved_objects/_import` route as the 2.x source defines it: it refuses a request without
the `osd-xsrf` header, without the expected basic auth or with a file name not ending in `.ndjson`, reads
the multipart field `file`, and answers with the documented bodies (`success`, `successCount`,
`successResults` with `overwrite: true` on objects that already existed, `errors`).
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import json
import re
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from shipper import cli
from shipper.errors import ConfigError, OpenSearchRejected, OpenSearchUnavailable
from shipper.opensearch.connection import answer_line
from shipper.opensearch.dashboards import SAVED_OBJECTS, describe, import_saved_objects
from shipper.settings import Settings, load

NDJSON = SAVED_OBJECTS
USER, PASSWORD = "admin", "s3cret-Pa55"


@dataclass
class FakeDashboards:
    """State of the fake server: what it received, what it stores, how it should answer."""

    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    stored: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    require_auth: bool = True
    password: str = PASSWORD
    fail: dict[str, dict[str, Any]] = field(default_factory=dict)  # object id -> error to report


def _parse_multipart(content_type: str, body: bytes) -> list[Any]:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    assert message.is_multipart()
    return list(message.iter_parts())


def dashboards_handler(state: FakeDashboards) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: Any) -> None:
            pass

        def _answer(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            url = urllib.parse.urlsplit(self.path)
            state.requests.append(
                {
                    "path": url.path,
                    "query": urllib.parse.parse_qs(url.query),
                    "headers": self.headers,
                    "body": body,
                }
            )
            if url.path != "/api/saved_objects/_import":
                self._answer(404, {"statusCode": 404, "error": "Not Found", "message": "Not Found"})
                return
            expected = "Basic " + base64.b64encode(f"{USER}:{state.password}".encode()).decode()
            if state.require_auth and self.headers.get("Authorization") != expected:
                self._answer(
                    401, {"statusCode": 401, "error": "Unauthorized", "message": "Authentication Exception"}
                )
                return
            if "osd-xsrf" not in self.headers:
                self._answer(400, {"statusCode": 400, "error": "Bad Request",
                                   "message": "Request must contain a osd-xsrf header."})  # fmt: skip
                return
            part = _parse_multipart(self.headers["Content-Type"], body)[0]
            filename = part.get_filename() or ""
            if part.get_param("name", header="content-disposition") != "file":
                self._answer(400, {"statusCode": 400, "error": "Bad Request",
                                   "message": "[request body.file]: expected value of type [Stream]"})  # fmt: skip
                return
            if not filename.endswith(".ndjson"):
                ext = "." + filename.rsplit(".", 1)[-1]
                self._answer(400, {"statusCode": 400, "error": "Bad Request",
                                   "message": f"Invalid file extension {ext}"})  # fmt: skip
                return
            overwrite = urllib.parse.parse_qs(url.query).get("overwrite") == ["true"]
            results, errors = [], []
            for line in part.get_payload(decode=True).decode().splitlines():
                obj = json.loads(line)
                key = (obj["type"], obj["id"])
                meta = {"title": obj["attributes"].get("title"), "icon": "visualizeApp"}
                existed = key in state.stored
                if obj["id"] in state.fail:
                    errors.append({"id": obj["id"], "type": obj["type"], "title": meta["title"], "meta": meta,
                                   "error": state.fail[obj["id"]]})  # fmt: skip
                    continue
                if existed and not overwrite:
                    errors.append({"id": obj["id"], "type": obj["type"], "title": meta["title"], "meta": meta,
                                   "error": {"type": "conflict"}})  # fmt: skip
                    continue
                state.stored[key] = obj
                results.append(
                    {
                        "type": obj["type"],
                        "id": obj["id"],
                        "meta": meta,
                        **({"overwrite": True} if existed else {}),
                    }
                )
            answer: dict[str, Any] = {"successCount": len(results), "success": not errors}
            if results:
                answer["successResults"] = results
            if errors:
                answer["errors"] = errors
            self._answer(200, answer)

    return Handler


@pytest.fixture
def fake() -> Iterator[FakeDashboards]:
    state = FakeDashboards()
    server = ThreadingHTTPServer(("127.0.0.1", 0), dashboards_handler(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "OPENSEARCH_URL",
        "DASHBOARDS_URL",
        "USERNAME",
        "PASSWORD",
        "API_KEY",
        "CONFIG",
        "INDEX_PREFIX",
    ):
        monkeypatch.delenv(f"EXIM_SHIPPER_{name}", raising=False)


def settings(url: str, **extra: Any) -> Settings:
    return Settings(dashboards_url=url, username=USER, password=PASSWORD, **extra)


def committed_objects() -> list[dict[str, Any]]:
    return [json.loads(line) for line in NDJSON.read_text().splitlines()]


def test_the_request_has_the_shape_the_import_api_requires(fake: FakeDashboards) -> None:
    report = import_saved_objects(settings(fake.url + "/"))
    assert report.ok
    (req,) = fake.requests
    assert req["path"] == "/api/saved_objects/_import"
    assert req["query"] == {"overwrite": ["true"]}
    assert req["headers"]["osd-xsrf"] == "true"
    assert req["headers"]["kbn-xsrf"] == "true"  # the same request works against Kibana
    assert req["headers"]["Content-Type"].startswith("multipart/form-data; boundary=")
    (part,) = _parse_multipart(req["headers"]["Content-Type"], req["body"])
    assert part.get_param("name", header="content-disposition") == "file"
    assert part.get_filename() == "exim-shipper.ndjson"
    assert part.get_payload(decode=True) == NDJSON.read_bytes()
    assert set(fake.stored) == {(o["type"], o["id"]) for o in committed_objects()}


def test_first_import_creates_and_a_rerun_replaces_the_same_objects(fake: FakeDashboards) -> None:
    n = len(committed_objects())
    kinds = sorted({o["type"] for o in committed_objects()})
    first = import_saved_objects(settings(fake.url))
    assert first.lines[0].startswith(f"saved objects: {n} imported (overwrite: {n} new, 0 replaced): ")
    assert all(kind in first.lines[0] for kind in kinds)
    stored = dict(fake.stored)
    again = import_saved_objects(settings(fake.url))
    assert again.ok
    assert again.lines[0].startswith(f"saved objects: {n} imported (overwrite: 0 new, {n} replaced)")
    assert fake.stored == stored  # idempotent: same ids, same content


def test_a_partial_failure_reports_each_object_on_one_line(fake: FakeDashboards) -> None:
    fake.fail = {
        "exim-shipper-vis-per-server": {"type": "unsupported_type"},
        "exim-shipper-search-bounces": {
            "type": "missing_references",
            "references": [{"type": "index-pattern", "id": "exim-shipper-events"}],
        },
    }
    report = import_saved_objects(settings(fake.url))
    n = len(committed_objects())
    assert not report.ok
    assert report.lines[0].startswith(f"saved objects: {n - 2} imported, 2 failed (overwrite: ")
    assert sorted(report.lines[1:]) == [
        "saved object search exim-shipper-search-bounces (Exim: bounces): "
        "missing references: index-pattern exim-shipper-events",
        "saved object visualization exim-shipper-vis-per-server "
        "(Exim: per-server received / delivered / deferred / bounced / rejected): "
        "type not supported by this Dashboards (a plugin is disabled?)",
    ]


def test_describe_reads_the_documented_response_bodies() -> None:
    ok = describe({"success": True, "successCount": 1, "successResults": [
        {"type": "dashboard", "id": "d", "meta": {"title": "D", "icon": "dashboardApp"}, "overwrite": True}]})  # fmt: skip
    assert ok == (["saved objects: 1 imported (overwrite: 0 new, 1 replaced): 1 dashboard"], True)
    failed = describe({"success": False, "successCount": 0, "errors": [
        {"id": "v", "type": "visualization", "title": "V", "meta": {"title": "V"},
         "error": {"type": "unknown", "message": "mapper_parsing_exception", "statusCode": 400}},
        {"id": "s", "type": "search", "meta": {}, "error": {"type": "conflict"}}]})  # fmt: skip
    assert failed == (
        [
            "saved objects: 0 imported, 2 failed (overwrite)",
            "saved object visualization v (V): mapper_parsing_exception (HTTP 400)",
            "saved object search s: conflict with an existing object",
        ],
        False,
    )


def test_another_index_prefix_is_imported_retargeted(fake: FakeDashboards) -> None:
    import_saved_objects(settings(fake.url, index_prefix="mail"))
    titles = {o["attributes"]["title"] for (kind, _), o in fake.stored.items() if kind == "index-pattern"}
    assert titles == {"mail-events-*", "mail-messages-*"}


def test_credentials_in_the_url_are_refused_and_never_printed(fake: FakeDashboards) -> None:
    """`http://user:password@host` would show the password in `ps` (a flag) and in logs: refused,
    naming the setting to use instead, and without repeating the password."""
    host = fake.url.removeprefix("http://")
    with pytest.raises(ConfigError) as caught:
        load({"dashboards_url": f"http://{USER}:{PASSWORD}@{host}"})
    assert "no user:password@ in URLs" in str(caught.value) and "password_file" in str(caught.value)
    assert PASSWORD not in str(caught.value)


def test_api_errors_are_one_line(fake: FakeDashboards, tmp_path: Path) -> None:
    wrong = tmp_path / "objects.json"
    wrong.write_bytes(NDJSON.read_bytes())
    with pytest.raises(OpenSearchRejected, match=r"HTTP 400: Invalid file extension \.json$"):
        import_saved_objects(settings(fake.url), wrong)
    with pytest.raises(OpenSearchRejected, match="HTTP 404, no saved-objects API there"):
        import_saved_objects(settings(fake.url + "/wrong-base-path"))
    missing = tmp_path / "missing.ndjson"
    with pytest.raises(ConfigError) as caught:
        import_saved_objects(settings(fake.url), missing)
    assert str(caught.value) == f"{missing}: cannot read saved objects (No such file or directory)"


def test_an_unreachable_dashboards_is_one_line() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(
        OpenSearchUnavailable, match=rf"^dashboards http://127\.0\.0\.1:{port}: cannot connect \("
    ):
        import_saved_objects(settings(f"http://127.0.0.1:{port}"))


def test_setup_with_only_a_dashboards_url_imports_and_reports(
    fake: FakeDashboards, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EXIM_SHIPPER_PASSWORD", PASSWORD)
    rc = cli.main(["setup", "--dashboards-url", fake.url, "--username", USER])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert out.startswith(f"saved objects: {len(committed_objects())} imported (overwrite: ")
    assert len(fake.requests) == 1
    fake.fail = {"exim-shipper-dashboard-fleet": {"type": "missing_references", "references": []}}
    rc = cli.main(["setup", "--dashboards-url", fake.url, "--username", USER])
    out, err = capsys.readouterr()
    assert rc == 1
    assert (
        "saved object dashboard exim-shipper-dashboard-fleet (Exim: fleet overview): missing references"
        in out
    )
    assert PASSWORD not in out + err


def test_setup_errors_reach_the_user_as_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    rc = cli.main(["setup", "--dashboards-url", "ftp://nowhere"])
    _, err = capsys.readouterr()
    assert rc == 1
    assert err == (
        "exim-shipper: invalid setting dashboards_url: 'ftp://nowhere': expected http(s)://host[:port][/path]\n"
    )


@contextmanager
def serving(respond: Callable[[BaseHTTPRequestHandler], None]) -> Iterator[tuple[str, list[str]]]:
    """A local HTTP server answering every request with `respond`; yields its URL and the paths asked."""
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: Any) -> None:
            pass

        def _any(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            asked.append(f"{self.command} {self.path} {self.headers.get('Authorization', '-')}")
            respond(self)

        do_GET = do_POST = _any

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", asked
    finally:
        server.shutdown()
        server.server_close()


def answer(
    status: int, body: bytes, content_type: str = "text/html", **headers: str
) -> Callable[[Any], None]:
    def respond(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(body)

    return respond


PROXY_502 = b"""<html>
<head><title>502 Bad Gateway</title></head>
<body>
<center><h1>502 Bad Gateway</h1></center>
<hr><center>nginx/1.22.1</center>
</body>
</html>
"""


def test_a_proxy_error_page_is_its_title_on_one_line() -> None:
    """nginx's 502 page in front of a Dashboards that is not up yet: one line, in the words the
    entrypoint retries on (HTTP 5xx), not the page's last line `</html>`."""
    with serving(answer(502, PROXY_502)) as (url, _), pytest.raises(OpenSearchRejected) as caught:
        import_saved_objects(settings(url))
    assert str(caught.value) == f"dashboards {url}: HTTP 502: 502 Bad Gateway"


def test_an_error_text_without_a_title_is_folded_onto_one_line() -> None:
    body = b"upstream connect error\n  or disconnect/reset before headers.\r\n\treset reason: overflow\n"
    with serving(answer(503, body, "text/plain")) as (url, _), pytest.raises(OpenSearchRejected) as caught:
        import_saved_objects(settings(url))
    assert str(caught.value) == (
        f"dashboards {url}: HTTP 503: upstream connect error or disconnect/reset before headers. "
        "reset reason: overflow"
    )
    message = json.dumps({"statusCode": 500, "message": "Internal\nServer  Error"}).encode()
    with (
        serving(answer(500, message, "application/json")) as (url, _),
        pytest.raises(OpenSearchRejected, match=r": HTTP 500: Internal Server Error$"),
    ):
        import_saved_objects(settings(url))


def test_answer_line_takes_the_title_folds_and_caps() -> None:
    assert (
        answer_line(b"<HTML><TITLE>\n  503 Service\n Unavailable </TITLE></HTML>")
        == "503 Service Unavailable"
    )
    assert answer_line(b"a\n\n b\t c ") == "a b c"
    assert answer_line(b"x" * 500, limit=10) == "x" * 10
    assert answer_line("caf\u00e9\n".encode()) == "caf\u00e9"


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_refused_and_the_credentials_go_nowhere_else(status: int) -> None:
    """urllib would follow 301/302/303 as a GET carrying the Authorization header to any host: the
    import stops instead, naming where it was sent (without the userinfo the Location may carry)."""
    with serving(answer(200, b"{}", "application/json")) as (elsewhere, reached):
        location = elsewhere.replace("http://", "http://someone:hunter2@") + "/api/saved_objects/_import"
        with (
            serving(answer(status, b"moved", "text/plain", Location=location)) as (url, asked),
            pytest.raises(OpenSearchRejected) as caught,
        ):
            import_saved_objects(settings(url))
    assert str(caught.value) == (
        f"dashboards {url}: redirected to {elsewhere}/api/saved_objects/_import; give the final URL"
    )
    assert len(asked) == 1
    assert reached == []


def test_a_password_with_at_signs_is_used_whole_and_never_shown(fake: FakeDashboards) -> None:
    """A password holding `@` (which a URL could not carry unambiguously) works from the settings."""
    fake.password = "p@ss@word"
    assert import_saved_objects(Settings(dashboards_url=fake.url, username=USER, password="p@ss@word")).ok
    with pytest.raises(OpenSearchRejected) as caught:
        import_saved_objects(Settings(dashboards_url=fake.url, username=USER, password="p@ss@wrong"))
    assert str(caught.value) == f"dashboards {fake.url}: the credentials were refused (HTTP 401)"
    assert "p@ss" not in str(caught.value)


@pytest.mark.parametrize("prefix", ["exim", "mail"])
def test_a_saved_objects_file_that_is_not_ndjson_is_refused_before_sending(
    fake: FakeDashboards, tmp_path: Path, prefix: str
) -> None:
    """Whatever the prefix (the default one sends the file as it is), a line that is not a JSON object
    is one line naming the file and the line, and nothing is sent."""
    for content, line in ((b"root:x:0:0:root:/root:/bin/bash\n", 1), (NDJSON.read_bytes() + b"[1]\n", None)):
        wrong = tmp_path / "objects.ndjson"
        wrong.write_bytes(content)
        number = line or len(committed_objects()) + 1
        with pytest.raises(ConfigError) as caught:
            import_saved_objects(settings(fake.url, index_prefix=prefix), wrong)
        assert str(caught.value) == (
            f"{wrong}: line {number} is not a saved object (one JSON object per line expected)"
        )
    assert fake.requests == []


def test_a_ca_bundle_that_cannot_be_used_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "missing.pem"
    with pytest.raises(ConfigError) as caught:
        import_saved_objects(settings("https://127.0.0.1:1", ca_certs=missing))
    assert str(caught.value) == f"CA bundle {missing} (--ca-certs): cannot use it (No such file or directory)"
    not_a_cert = tmp_path / "passwd"
    not_a_cert.write_text("root:x:0:0:root:/root:/bin/bash\n")
    with pytest.raises(ConfigError, match=r"^CA bundle .*/passwd \(--ca-certs\): cannot use it \(\w"):
        import_saved_objects(settings("https://127.0.0.1:1", ca_certs=not_a_cert))


def test_a_server_that_does_not_speak_http_is_one_line() -> None:
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]

    def banner() -> None:
        conn, _ = listener.accept()
        data = b""
        while b"\r\n\r\n" not in data:
            data += conn.recv(65536)
        head, _, rest = data.partition(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
        while len(rest) < length:  # read the whole request, so the client is not cut off while sending
            rest += conn.recv(65536)
        conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")
        conn.close()

    thread = threading.Thread(target=banner, daemon=True)
    thread.start()
    try:
        with pytest.raises(
            OpenSearchUnavailable, match=rf"^dashboards http://127\.0\.0\.1:{port}: not an HTTP answer"
        ):
            import_saved_objects(settings(f"http://127.0.0.1:{port}"))
    finally:
        thread.join(timeout=5)
        listener.close()
