"""TLS with a private CA and basic auth (Debian's nginx terminating TLS in front of the real node): works
with the CA and the password, refuses without them in one clear line, and never prints the secret."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration import tlsproxy
from tests.integration.setup_failures import unavailable
from tests.integration.test_backfill import ROOT, SAMPLE, command, count
from tests.integration.tlsproxy import TlsProxy

USER, PASSWORD = "shipper", "s3cret-Pa55-in-test"


@pytest.fixture(scope="module")
def proxy(opensearch_url: str) -> Iterator[TlsProxy]:
    why = tlsproxy.have_tools()
    if why:
        unavailable(why)
    try:
        tlsproxy.nginx_binary()
    except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
        unavailable(f"nginx could not be fetched: {exc}")
    folder = Path(tempfile.mkdtemp(prefix="exim-shipper-tls-"))
    try:
        p = tlsproxy.TlsProxy(opensearch_url, folder, USER, PASSWORD)
    except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
        # nginx is here: not starting is our configuration's fault, which a skip would hide.
        pytest.fail(f"nginx was fetched but could not be started: {exc}")
    yield p
    p.stop()


def _ship(
    proxy: TlsProxy, prefix: str, state: Path, *extra: str, password: str | None = PASSWORD
) -> subprocess.CompletedProcess[str]:
    cmd = command("backfill", str(SAMPLE), url=proxy.url, prefix=prefix, state=state)
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXIM_SHIPPER_")}
    if password is not None:
        env["EXIM_SHIPPER_PASSWORD"] = password
    return subprocess.run([*cmd, *extra], capture_output=True, text=True, check=False, cwd=ROOT, env=env)


@pytest.mark.usefixtures("set_up")
def test_ships_through_tls_with_the_private_ca_and_basic_auth(
    proxy: TlsProxy, opensearch_url: str, prefix: str, tmp_path: Path
) -> None:
    ca = str(proxy.pki.ca)
    res = _ship(proxy, prefix, tmp_path, "--ca-certs", ca, "--username", USER)
    assert res.returncode == 0, res.stderr
    assert count(opensearch_url, f"{prefix}-events-*") == 24
    assert PASSWORD not in res.stdout + res.stderr


@pytest.mark.usefixtures("set_up")
@pytest.mark.parametrize("which", ["no CA", "another CA"])
def test_refuses_a_server_it_cannot_verify_in_one_line(
    proxy: TlsProxy, opensearch_url: str, prefix: str, tmp_path: Path, which: str
) -> None:
    extra = ["--username", USER]
    if which == "another CA":
        extra += ["--ca-certs", str(proxy.pki.other_ca)]
    res = _ship(proxy, prefix, tmp_path, *extra)
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    assert "TLS failed" in lines[0] and "certificate verify failed" in lines[0], lines[0]
    assert "--ca-certs" in lines[0]
    assert PASSWORD not in res.stderr
    assert count(opensearch_url, f"{prefix}-events-*") == 0


@pytest.mark.usefixtures("set_up")
@pytest.mark.parametrize("password", ["wrong-password", None])
def test_refuses_bad_or_missing_credentials_in_one_line(
    proxy: TlsProxy, prefix: str, tmp_path: Path, password: str | None
) -> None:
    ca = str(proxy.pki.ca)
    extra = ["--ca-certs", ca] + (["--username", USER] if password else [])
    res = _ship(proxy, prefix, tmp_path, *extra, password=password)
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    assert "refused the credentials (HTTP 401)" in lines[0], lines[0]
    assert "wrong-password" not in res.stderr
