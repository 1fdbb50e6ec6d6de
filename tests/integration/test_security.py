"""Least privilege on a real OpenSearch with the security plugin: `setup` as an admin, `backfill` and `run` as
a user holding only the shipper role of docs/security.md, and everything else refused to that user."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import secured_opensearch  # tools/: on sys.path from conftest.py, which pytest imports first
from opensearchpy import OpenSearch
from opensearchpy import exceptions as os_exc

from tests.integration.conftest import _free_port, local_opensearch  # also puts tools/ on sys.path
from tests.integration.setup_failures import unavailable
from tests.integration.test_backfill import ROOT, SAMPLE, command

DOC = ROOT / "docs" / "security.md"
ADMIN_PW, SHIPPER_PW, SETUP_PW = "Adm1n-only-in-tests", "Sh1ps-events-only", "T3mplates-only"
# The documented role is for the default prefix; the tests' prefixes all start with "sec".
PATTERN = "sec*"


def documented(marker: str) -> dict[str, Any]:
    """The JSON block that follows `<!-- marker -->` in docs/security.md: the tests use what the doc says."""
    found = re.search(rf"<!-- {marker} -->\s*```json\n(.*?)```", DOC.read_text(), re.DOTALL)
    assert found, f"no JSON block after <!-- {marker} --> in {DOC}"
    body: dict[str, Any] = orjson.loads(found.group(1))
    return body


def shipper_role() -> dict[str, Any]:
    role = documented("opensearch-shipper-role")
    (perms,) = role["index_permissions"]
    assert perms["index_patterns"] == ["exim-events-*", "exim-messages-*"]
    perms["index_patterns"] = [p.replace("exim-", f"{PATTERN}-", 1) for p in perms["index_patterns"]]
    return role


@pytest.fixture(scope="module")
def node() -> Iterator[secured_opensearch.SecuredNode]:
    data = Path(tempfile.mkdtemp(prefix="exim-shipper-secured-"))
    users = {
        "shipper": secured_opensearch.User(SHIPPER_PW, ["exim_shipper"]),
        "setupper": secured_opensearch.User(SETUP_PW, ["exim_setup"]),
    }
    roles = {"exim_shipper": shipper_role(), "exim_setup": documented("opensearch-setup-role")}
    try:
        started = secured_opensearch.start(
            _free_port(),
            data,
            admin_password=ADMIN_PW,
            users=users,
            roles=roles,
            transport_port=_free_port(),
        )
    except (SystemExit, subprocess.CalledProcessError, OSError) as exc:
        local_opensearch.stop(data)
        shutil.rmtree(data, ignore_errors=True)
        unavailable(f"the secured OpenSearch node could not be fetched or started: {exc}")
    try:
        yield started
    finally:
        local_opensearch.stop(data)
        shutil.rmtree(data, ignore_errors=True)


def client(node: secured_opensearch.SecuredNode, user: str = "admin", password: str = ADMIN_PW) -> OpenSearch:
    return OpenSearch(
        [node.url], http_auth=(user, password), use_ssl=True, verify_certs=True, ca_certs=str(node.ca)
    )


def env_for(node: secured_opensearch.SecuredNode, user: str, password: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXIM_SHIPPER_")}
    env.update(EXIM_SHIPPER_USERNAME=user, EXIM_SHIPPER_PASSWORD=password, EXIM_SHIPPER_CA_CERTS=str(node.ca))
    return env


def exim_shipper(
    node: secured_opensearch.SecuredNode, user: str, password: str, prefix: str, state: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    cmd = [*command(*args, url=node.url, prefix=prefix, state=state)]
    if args[0] == "backfill":
        cmd.append("--quiet")
    env = env_for(node, user, password)
    return subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT, env=env)


def setup_as_admin(node: secured_opensearch.SecuredNode, prefix: str, state: Path) -> None:
    # --ca-certs here, EXIM_SHIPPER_CA_CERTS everywhere: both ways of naming the CA are used.
    res = exim_shipper(node, "admin", ADMIN_PW, prefix, state, "setup", "--ca-certs", str(node.ca))
    assert res.returncode == 0, res.stderr


def count(node: secured_opensearch.SecuredNode, index: str) -> int:
    """The index's count, once its shards answer (503 while a running shipper's new index starts)."""
    admin = client(node)
    deadline = time.monotonic() + 30.0
    while True:
        try:
            admin.indices.refresh(index=index, ignore_unavailable=True)
            return int(admin.count(index=index, ignore_unavailable=True)["count"])
        except os_exc.TransportError as exc:
            if exc.status_code != 503 or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def summary_versions(node: secured_opensearch.SecuredNode, prefix: str) -> dict[str, int]:
    admin = client(node)
    admin.indices.refresh(index=f"{prefix}-messages-*")
    hits = admin.search(index=f"{prefix}-messages-*", body={"size": 100, "version": True})["hits"]["hits"]
    return {h["_source"]["email"]["local_id"]: int(h["_version"]) for h in hits}


def split_sample(folder: Path) -> tuple[Path, Path]:
    """The sample in two halves; a message runs across the cut, so its summary must be merged."""
    lines = SAMPLE.read_bytes().splitlines(keepends=True)
    first, second = folder / "first.log", folder / "second.log"
    first.write_bytes(b"".join(lines[:12]))
    second.write_bytes(b"".join(lines[12:]))
    return first, second


def test_setup_as_admin_and_as_the_setup_role(node: secured_opensearch.SecuredNode, tmp_path: Path) -> None:
    res = exim_shipper(node, "admin", ADMIN_PW, "secsetup", tmp_path, "setup", "--ca-certs", str(node.ca))
    assert res.returncode == 0, res.stderr
    assert "index template secsetup-events: created" in res.stdout
    assert "component template secsetup-ecs-base: created" in res.stdout
    admin = client(node)
    assert admin.transport.perform_request("GET", "/_index_template/secsetup-messages")["index_templates"]
    # The narrower setup role of docs/security.md installs as well (another prefix), and re-runs.
    for outcome in ("created", "unchanged"):
        res = exim_shipper(node, "setupper", SETUP_PW, "secsetup2", tmp_path, "setup")
        assert res.returncode == 0, res.stderr
        assert f"index template secsetup2-events: {outcome}" in res.stdout


def test_backfill_as_the_shipper(node: secured_opensearch.SecuredNode, tmp_path: Path) -> None:
    setup_as_admin(node, "secbackfill", tmp_path)
    first, second = split_sample(tmp_path)
    for part in (first, second):
        res = exim_shipper(
            node, "shipper", SHIPPER_PW, "secbackfill", tmp_path / "state", "backfill", str(part)
        )
        assert res.returncode == 0, res.stderr
        assert re.search(r"\s12\s+12\s+0\s+0\s", res.stderr), res.stderr  # 12 indexed, none dead-lettered
    assert count(node, "secbackfill-events-*") == 24
    versions = summary_versions(node, "secbackfill")
    assert len(versions) == 4
    # The message across the cut was read back (mget) and overwritten under if_seq_no by the second run.
    assert max(versions.values()) >= 2, versions
    again = exim_shipper(
        node, "shipper", SHIPPER_PW, "secbackfill", tmp_path / "fresh", "backfill", str(SAMPLE)
    )
    assert again.returncode == 0, again.stderr
    assert re.search(r"\s24\s+0\s+24\s+0\s", again.stderr), again.stderr  # all already there
    assert count(node, "secbackfill-events-*") == 24


def _permissions() -> list[str]:
    role = documented("opensearch-shipper-role")
    index_actions = [a for perms in role["index_permissions"] for a in perms["allowed_actions"]]
    # No ISM plugin on the test node (not on Maven Central): its permission cannot be shown needed here.
    return [p for p in role["cluster_permissions"] if "/ism/" not in p] + index_actions


def _without(permission: str) -> dict[str, Any]:
    role = shipper_role()
    role["cluster_permissions"] = [p for p in role["cluster_permissions"] if p != permission]
    for perms in role["index_permissions"]:
        perms["allowed_actions"] = [a for a in perms["allowed_actions"] if a != permission]
    return role


@pytest.mark.parametrize("permission", _permissions())
def test_every_permission_of_the_shipper_role_is_needed(
    node: secured_opensearch.SecuredNode, tmp_path: Path, permission: str
) -> None:
    """The documented role less one permission: the two-part backfill no longer ships everything."""
    n = _permissions().index(permission)
    prefix, user, password = f"secless{n}", f"less{n}", f"Wr1tes-{n}-less-than-needed"
    # Made as docs/security.md tells an administrator to, through the security REST API; a fresh user and
    # role per case, so no cached permissions of another case can answer.
    admin = client(node)
    api = "/_plugins/_security/api"
    admin.transport.perform_request("PUT", f"{api}/roles/{user}", body=_without(permission))
    admin.transport.perform_request("PUT", f"{api}/internalusers/{user}", body={"password": password})
    admin.transport.perform_request("PUT", f"{api}/rolesmapping/{user}", body={"users": [user]})
    setup_as_admin(node, prefix, tmp_path)
    runs = [
        exim_shipper(node, user, password, prefix, tmp_path / "state", "backfill", str(part))
        for part in split_sample(tmp_path)
    ]
    # Shipping everything without a warning: the template check on start is part of the job.
    complete = all(
        r.returncode == 0 and re.search(r"\s12\s+12\s+0\s+0\s", r.stderr) and "warning" not in r.stderr
        for r in runs
    )
    merged = complete and max(summary_versions(node, prefix).values()) >= 2
    assert not (complete and merged and count(node, f"{prefix}-events-*") == 24), (
        f"backfill works without {permission}: drop it from the role in docs/security.md"
    )


def test_run_as_the_shipper(node: secured_opensearch.SecuredNode, tmp_path: Path) -> None:
    setup_as_admin(node, "secrun", tmp_path)
    first, second = split_sample(tmp_path)
    log = tmp_path / "exim_mainlog"
    log.write_bytes(first.read_bytes())
    env = {
        **env_for(node, "shipper", SHIPPER_PW),
        "EXIM_SHIPPER_BATCH_MAX_AGE": "0.3",
        "EXIM_SHIPPER_SCAN_INTERVAL": "0.2",
    }
    cmd = command("run", str(log), url=node.url, prefix="secrun", state=tmp_path / "state")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert wait_for(node, "secrun-events-*", 12) == 12
        with log.open("ab") as fh:
            fh.write(second.read_bytes())
        assert wait_for(node, "secrun-events-*", 24) == 24
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    assert "stopped after 24 entries (24 indexed, 0 already there, 0 dead-lettered)" in err.decode()
    assert len(summary_versions(node, "secrun")) == 4


def wait_for(node: secured_opensearch.SecuredNode, index: str, n: int, timeout: float = 60.0) -> int:
    deadline = time.monotonic() + timeout
    while count(node, index) < n and time.monotonic() < deadline:
        time.sleep(0.3)
    time.sleep(1.0)  # anything beyond n would show up now
    return count(node, index)


@pytest.fixture(scope="module")
def installed(node: secured_opensearch.SecuredNode, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Templates and an events index of prefix "secdelete", for the shipper to be refused changing them."""
    setup_as_admin(node, "secdelete", tmp_path_factory.mktemp("secdelete"))
    client(node).index(index="secdelete-events-2025.01.01", body={"a": 1}, refresh=True)


@pytest.mark.parametrize(
    "case",
    [
        ("an index template", "PUT", "/_index_template/secevil", {"index_patterns": ["secevil-*"]}),
        ("a component template", "PUT", "/_component_template/secevil", {"template": {}}),
        ("deleting a template", "DELETE", "/_index_template/secdelete-events", None),
        ("deleting an index", "DELETE", "/secdelete-events-2025.01.01", None),
        ("writing outside its prefix", "POST", "/other-events-2025.01.01/_doc", {"a": 1}),
        ("searching its own events", "POST", "/secdelete-events-*/_search", {"size": 1}),
    ],
    ids=lambda case: case[0].replace(" ", "-"),
)
def test_the_shipper_is_refused(
    node: secured_opensearch.SecuredNode, installed: None, case: tuple[str, str, str, Any]
) -> None:
    what, method, path, body = case
    admin = client(node)
    shipper = client(node, "shipper", SHIPPER_PW)
    with pytest.raises(os_exc.AuthorizationException) as refused:
        shipper.transport.perform_request(method, path, body=body)
    assert "no permissions for" in str(refused.value.info), what
    # Nothing changed: no template of the shipper's, setup's still there, and the index with its document.
    assert count(node, "secdelete-events-2025.01.01") == 1
    assert not admin.indices.exists_index_template(name="secevil")
    assert not admin.cluster.exists_component_template(name="secevil")
    assert admin.indices.exists_index_template(name="secdelete-events")
    assert not admin.indices.exists(index="other-events-2025.01.01")


def test_setup_as_the_shipper_fails_in_one_line(node: secured_opensearch.SecuredNode, tmp_path: Path) -> None:
    res = exim_shipper(node, "shipper", SHIPPER_PW, "secfresh", tmp_path, "setup")
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    assert lines[0].startswith("exim-shipper: setup: OpenSearch denied this user the request (HTTP 403"), (
        lines
    )
    # The first request setup makes that the role lacks: `GET /` now that the shipper role holds no
    # cluster:monitor/main (run and backfill never ask which distribution it is).
    assert "no permissions for [cluster:monitor/main]" in lines[0], lines[0]
    assert SHIPPER_PW not in res.stderr
    assert not client(node).indices.exists_index_template(name="secfresh-events")


def test_the_shipper_without_templates_stops_in_one_line(
    node: secured_opensearch.SecuredNode, tmp_path: Path
) -> None:
    """Nobody ran setup for this prefix: the shipper says so in one line and writes nothing."""
    res = exim_shipper(node, "shipper", SHIPPER_PW, "secmissing", tmp_path, "backfill", str(SAMPLE))
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    assert lines[0] == (
        "exim-shipper: the cluster has no index templates for prefix 'secmissing'; "
        "run `exim-shipper setup` centrally first"
    ), lines
    assert count(node, "secmissing-*") == 0


def test_the_elasticsearch_role_and_api_key_match() -> None:
    """Not run against Elasticsearch (its integ-test zip has no security); the documented bodies are at least
    well-formed, for the same index families, and the API key carries exactly the role."""
    role = documented("elasticsearch-shipper-role")
    key = documented("elasticsearch-api-key")
    assert key["role_descriptors"] == {"exim_shipper": {k: v for k, v in role.items() if k != "metadata"}}
    names = sorted(n for entry in role["indices"] for n in entry["names"])
    assert names == ["exim-events-*", "exim-messages-*"]
    assert not {"manage", "all", "manage_index_templates"} & set(role["cluster"])
    assert all(
        "delete" not in p and p not in ("all", "manage", "write")
        for e in role["indices"]
        for p in e["privileges"]
    )
