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
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from shipper import cli
from shipper.errors import ConfigError, OpenSearchRejected, OpenSearchUnavailable
from shipper.opensearch.dashboards import describe, import_saved_objects
from shipper.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
NDJSON = ROOT / "kibana" / "exim-shipper.ndjson"
USER, PASSWORD = "admin", "s3cret-Pa55"


@dataclass
class FakeDashboards:
    """State of the fake server: what it received, what it stores, how it should answer."""

    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    stored: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    require_auth: bool = True
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
            expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
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
    monkeypatch.delenv("EXIM_SHIPPER_SAVED_OBJECTS", raising=False)


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


def test_credentials_in_the_url_become_basic_auth_and_are_never_printed(fake: FakeDashboards) -> None:
    host = fake.url.removeprefix("http://")
    report = import_saved_objects(Settings(dashboards_url=f"http://{USER}:{PASSWORD}@{host}"))
    assert report.ok
    with pytest.raises(OpenSearchRejected) as caught:
        import_saved_objects(Settings(dashboards_url=f"http://{USER}:wrong-{PASSWORD}@{host}"))
    assert str(caught.value) == f"dashboards {fake.url}: the credentials were refused (HTTP 401)"
    assert PASSWORD not in str(caught.value)


def test_api_errors_are_one_line(
    fake: FakeDashboards, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = tmp_path / "objects.json"
    wrong.write_bytes(NDJSON.read_bytes())
    monkeypatch.setenv("EXIM_SHIPPER_SAVED_OBJECTS", str(wrong))
    with pytest.raises(OpenSearchRejected, match=r"HTTP 400: Invalid file extension \.json$"):
        import_saved_objects(settings(fake.url))
    monkeypatch.delenv("EXIM_SHIPPER_SAVED_OBJECTS")
    with pytest.raises(OpenSearchRejected, match="HTTP 404, no saved-objects API there"):
        import_saved_objects(settings(fake.url + "/wrong-base-path"))
    with pytest.raises(ConfigError, match="invalid dashboards URL"):
        import_saved_objects(settings("localhost:5601"))
    monkeypatch.setenv("EXIM_SHIPPER_SAVED_OBJECTS", str(tmp_path / "missing.ndjson"))
    with pytest.raises(ConfigError, match="saved objects not found"):
        import_saved_objects(settings(fake.url))


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
    assert err.startswith("exim-shipper: invalid dashboards URL 'ftp://nowhere'")
    assert err.count("\n") == 1


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
