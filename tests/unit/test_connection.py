"""Library errors translated at the seam: into the tree of shipper.errors, by what they mean for a retry,
on one user-facing line (no HTML pages, no line breaks, no credentials)."""

from __future__ import annotations

import pytest
from opensearchpy import exceptions as os_exc

from shipper.errors import (
    AccessDenied,
    NotFound,
    OpenSearchRejected,
    OpenSearchUnavailable,
    RequestTooLarge,
)
from shipper.opensearch.connection import OpenSearchCluster, compressed, connect, translate
from shipper.settings import Settings

PAGE = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502</h1></center>\r\n</html>"


def test_a_proxy_html_error_page_becomes_its_title_on_one_line() -> None:
    err = translate(os_exc.TransportError(502, PAGE, PAGE)).during("backfill")
    assert str(err) == "backfill: OpenSearch answered HTTP 502: 502 Bad Gateway"
    assert isinstance(err, OpenSearchUnavailable) and err.status == 502


def test_multi_line_reasons_are_folded() -> None:
    err = translate(os_exc.TransportError(400, "line one\nline two", "line one\nline two"))
    assert "\n" not in str(err) and "line one line two" in str(err)
    assert type(err) is OpenSearchRejected


def test_credentials_in_a_connection_error_are_not_repeated() -> None:
    exc = os_exc.ConnectionError("N/A", "HTTPSConnectionPool(https://user:hunter2@db:9200) refused", None)
    err = translate(exc)
    assert "hunter2" not in str(err)
    assert isinstance(err, OpenSearchUnavailable) and err.status is None


def test_certificate_failures_are_final_not_retried() -> None:
    ssl = os_exc.SSLError("N/A", "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed", None)
    assert type(translate(ssl)) is OpenSearchRejected, (
        "a certificate that does not verify will not on the next try"
    )
    assert isinstance(
        translate(os_exc.ConnectionError("N/A", "connection refused", None)), OpenSearchUnavailable
    )
    assert isinstance(
        translate(os_exc.ConnectionTimeout("TIMEOUT", "read timed out", None)), OpenSearchUnavailable
    )


def test_a_403_names_the_missing_permission_not_the_credentials() -> None:
    reason = "no permissions for [cluster:admin/component_template/put] and User [name=shipper]"
    info = {"error": {"type": "security_exception", "reason": reason}, "status": 403}
    err = translate(os_exc.AuthorizationException(403, "security_exception", info))
    assert isinstance(err, AccessDenied) and err.reason == reason
    assert str(err.during("setup")) == f"setup: OpenSearch denied this user the request (HTTP 403: {reason})"
    unauthenticated = translate(os_exc.AuthenticationException(401, "security_exception", {}))
    assert str(unauthenticated.during("run")) == "run: OpenSearch refused the credentials (HTTP 401)"
    assert type(unauthenticated) is OpenSearchRejected


def _pressure(request_bytes: int, limit: int) -> os_exc.TransportError:
    reason = (
        "rejected execution of coordinating operation [coordinating_and_primary_bytes=0, replica_bytes=0, "
        f"all_bytes=0, coordinating_operation_bytes={request_bytes}, max_coordinating_and_primary_bytes={limit}]"
    )
    return os_exc.TransportError(429, "rejected_execution_exception", {"error": {"reason": reason}})


def test_a_request_refused_for_its_size_must_be_split_and_throttling_waited_for() -> None:
    assert isinstance(translate(os_exc.TransportError(413, "", {})), RequestTooLarge)
    assert isinstance(translate(_pressure(60_000_000, 50_000_000)), RequestTooLarge)
    fits = translate(_pressure(200, 1_000_000))
    assert isinstance(fits, OpenSearchUnavailable) and fits.status == 429


def test_a_404_is_not_found_and_503_is_worth_another_try() -> None:
    assert isinstance(translate(os_exc.NotFoundError(404, "index_not_found_exception", {})), NotFound)
    assert isinstance(
        translate(os_exc.TransportError(503, "search_phase_execution_exception", {})), OpenSearchUnavailable
    )


class _Failing:
    """Stands for the opensearch-py client: every call raises the library's exception."""

    def __init__(self, exc: Exception) -> None:
        self.exc = exc
        self.transport = self

    def bulk(self, **_: object) -> object:
        raise self.exc

    def perform_request(self, *_: object, **__: object) -> object:
        raise self.exc


@pytest.mark.parametrize("call", ["bulk", "request"])
def test_no_library_exception_passes_the_seam(call: str) -> None:
    cluster = OpenSearchCluster(_Failing(os_exc.ConnectionError("N/A", "refused", None)))  # type: ignore[arg-type]
    with pytest.raises(OpenSearchUnavailable, match="cannot connect to OpenSearch"):
        cluster.bulk(b"") if call == "bulk" else cluster.request("GET", "/")


@pytest.mark.parametrize(
    ("urls", "setting", "gzip"),
    [
        (["http://127.0.0.1:9200"], None, False),
        (["http://localhost:9200", "http://[::1]:9201", "http://127.0.0.2:9202"], None, False),
        (["https://node.localhost:9200"], None, False),
        (["http://127.0.0.1:9200", "https://os.example.net:9200"], None, True),  # one across a network
        (["https://10.0.0.5:9200"], None, True),
        (["http://localhost.example.net:9200"], None, True),  # a name not resolved: taken as remote
        (["http://127.0.0.1:9200"], True, True),  # said so: as said
        (["https://os.example.net:9200"], False, False),
    ],
)
def test_bodies_are_gzipped_unless_the_cluster_is_on_loopback(
    urls: list[str], setting: bool | None, gzip: bool
) -> None:
    settings = Settings(opensearch_url=urls, http_compress=setting)
    assert compressed(settings) is gzip
    assert connect(settings).client.transport.get_connection().http_compress is gzip
