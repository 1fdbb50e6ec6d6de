"""Client errors to one user-facing line: no HTML pages, no line breaks, no credentials."""

from __future__ import annotations

from opensearchpy import exceptions as os_exc

from shipper.opensearch.connection import translate
from shipper.opensearch.retry import transient

PAGE = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502</h1></center>\r\n</html>"


def test_a_proxy_html_error_page_becomes_its_title_on_one_line() -> None:
    err = translate(os_exc.TransportError(502, PAGE, PAGE), "backfill")
    assert str(err) == "backfill: OpenSearch answered HTTP 502: 502 Bad Gateway"


def test_multi_line_reasons_are_folded() -> None:
    err = translate(os_exc.TransportError(400, "line one\nline two", "line one\nline two"), "setup")
    assert "\n" not in str(err) and "line one line two" in str(err)


def test_credentials_in_a_connection_error_are_not_repeated() -> None:
    exc = os_exc.ConnectionError("N/A", "HTTPSConnectionPool(https://user:hunter2@db:9200) refused", None)
    assert "hunter2" not in str(translate(exc, "run"))


def test_certificate_failures_are_final_not_retried() -> None:
    ssl = os_exc.SSLError("N/A", "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed", None)
    assert not transient(ssl), "a certificate that does not verify will not verify on the next try either"
    assert transient(os_exc.ConnectionError("N/A", "connection refused", None))


def test_a_403_names_the_missing_permission_not_the_credentials() -> None:
    reason = "no permissions for [cluster:admin/component_template/put] and User [name=shipper]"
    info = {"error": {"type": "security_exception", "reason": reason}, "status": 403}
    err = str(translate(os_exc.AuthorizationException(403, "security_exception", info), "setup"))
    assert err == f"setup: OpenSearch denied this user the request (HTTP 403: {reason})"
    unauthenticated = translate(os_exc.AuthenticationException(401, "security_exception", {}), "run")
    assert str(unauthenticated) == "run: OpenSearch refused the credentials (HTTP 401)"
