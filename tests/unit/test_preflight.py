"""`check`'s local verdicts (log paths, state directory), its output without a cluster configured, and
what a role that may not read templates is told."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shipper import cli
from shipper.errors import AccessDenied
from shipper.preflight import log_paths, require_templates, state_dir, templates
from shipper.settings import Settings
from tests.fakes.cluster import FakeCluster


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("EXIM_SHIPPER_"):
            monkeypatch.delenv(name)


def test_globs_are_resolved_and_each_file_judged(tmp_path: Path) -> None:
    (tmp_path / "exim_mainlog").write_bytes(b"x\n")
    (tmp_path / "exim_rejectlog").write_bytes(b"")
    (tmp_path / "exim_dir").mkdir()
    lines = [f.line for f in log_paths([str(tmp_path / "exim_*"), str(tmp_path / "other*")])]
    assert lines == [
        f"log {tmp_path / 'exim_dir'}: not a regular file",
        f"log {tmp_path / 'exim_mainlog'}: ok",
        f"log {tmp_path / 'exim_rejectlog'}: ok",
        f"log {tmp_path / 'other*'}: ok (no file matches yet)",
    ]


def test_paths_not_there_yet_are_fine_unless_none_is(tmp_path: Path) -> None:
    """exim_paniclog appears on the first panic: the sidecar follows it then. But with no log at all
    there is nothing to ship, which is a mistake worth failing for."""
    main, panic = tmp_path / "exim_mainlog", tmp_path / "exim_paniclog"
    main.write_bytes(b"")
    found = log_paths([str(main), str(panic)])
    assert [f.line for f in found] == [f"log {main}: ok", f"log {panic}: ok (not there yet)"]
    assert all(f.ok for f in found)
    main.unlink()
    found = log_paths([str(main), str(panic)])
    assert found[-1].line == f"logs: no readable log file among the configured paths ({main}, {panic})"
    assert not found[-1].ok


def test_state_directory(tmp_path: Path) -> None:
    assert state_dir(tmp_path).line == f"state directory {tmp_path}: ok"
    assert not (set(tmp_path.iterdir())), "the probe file is removed again"
    fresh = tmp_path / "a" / "b"
    assert state_dir(fresh).line == f"state directory {fresh}: ok (not there yet; it will be created)"
    assert not fresh.exists()
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    assert state_dir(blocker).line == f"state directory {blocker}: not a directory"
    below = state_dir(blocker / "state")
    assert (
        below.line
        == f"state directory {blocker / 'state'}: does not exist and cannot be created by uid {os.getuid()}"
    )


def test_check_without_a_cluster_configured(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Every local line still printed, the cluster line says what to set, exit 1."""
    log = tmp_path / "exim_mainlog"
    log.write_bytes(b"")
    config = tmp_path / "shipper.toml"
    config.write_text(f'state_dir = "{tmp_path}"\n')
    assert cli.main(["check", str(log), "--config", str(config)]) == 1
    out, err = capsys.readouterr()
    assert err == ""
    assert out.splitlines() == [
        f"config: ok ({config})",
        f"log {log}: ok",
        f"state directory {tmp_path}: ok",
        "cluster: no OpenSearch URL configured (--opensearch-url or EXIM_SHIPPER_OPENSEARCH_URL)",
    ]


def test_check_takes_its_paths_from_the_settings(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("EXIM_SHIPPER_PATHS", f"{tmp_path}/a.log,{tmp_path}/b*")
    monkeypatch.setenv("EXIM_SHIPPER_STATE_DIR", str(tmp_path))
    assert cli.main(["check"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[1:4] == [
        f"log {tmp_path}/a.log: ok (not there yet)",
        f"log {tmp_path}/b*: ok (no file matches yet)",
        f"logs: no readable log file among the configured paths ({tmp_path}/a.log, {tmp_path}/b*)",
    ]


class _Refusing(FakeCluster):
    """A cluster whose every admin request a security plugin refuses, as the seam reports it (HTTP 403
    with the plugin's reason)."""

    REASON = "no permissions for [indices:admin/index_template/get] and User [name=shipper, roles=[x]]"

    def request(self, method: str, path: str, **_: object) -> object:
        line = f"OpenSearch denied this user the request (HTTP 403: {self.REASON})"
        raise AccessDenied(line, status=403, reason=self.REASON)


def test_templates_a_role_may_not_read_are_a_warning_naming_the_permission() -> None:
    """Least privilege: a shipper's role need not read templates; it is told, and ships."""
    warning = require_templates(_Refusing(), Settings())
    assert warning == (
        f"cannot check the index templates (HTTP 403: {_Refusing.REASON}); shipping without knowing they are there"
    )
    found, missing = templates(_Refusing(), Settings())
    assert [f.line for f in found] == [f"templates: cannot be read (HTTP 403: {_Refusing.REASON})"]
    assert not missing
