"""`check` against the real node, and `run`/`backfill` that only look at the templates (least privilege):
they refuse a cluster without them, warn about different ones, and never install or change any."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from opensearchpy import OpenSearch

from tests.integration.test_backfill import ROOT, SAMPLE, command, count, shipper
from tests.integration.test_entrypoint import Gate, Lines
from tests.integration.test_tail import wait_for

HINT = "run `exim-shipper setup` centrally"


def check(*extra: str, url: str, prefix: str, state: Path, log: Path) -> subprocess.CompletedProcess[str]:
    cmd = command("check", str(log), *extra, url=url, prefix=prefix, state=state)
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXIM_SHIPPER_")}
    return subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT, env=env, timeout=120)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def templates_of(client: OpenSearch, prefix: str) -> list[str]:
    found: list[str] = []
    for kind in ("_index_template", "_component_template"):
        answer: dict[str, Any] = client.transport.perform_request(
            "GET", f"/{kind}/{prefix}-*", params={"ignore": 404}
        )
        key = "index_templates" if kind == "_index_template" else "component_templates"
        found += [t["name"] for t in answer.get(key, [])]
    return found


def alter_component_template(client: OpenSearch, name: str) -> None:
    """A hand edit (or another version's setup): same content, another `_meta` hash."""
    answer = client.transport.perform_request("GET", f"/_component_template/{name}")
    body = answer["component_templates"][0]["component_template"]
    body["_meta"]["exim_shipper_hash"] = "0000000000000000"
    client.transport.perform_request("PUT", f"/_component_template/{name}", body=body)


def stored_hash(client: OpenSearch, name: str) -> str:
    answer = client.transport.perform_request("GET", f"/_component_template/{name}")
    return str(answer["component_templates"][0]["component_template"]["_meta"]["exim_shipper_hash"])


def test_check_before_and_after_setup(opensearch_url: str, prefix: str, tmp_path: Path) -> None:
    """Before setup: each template said missing, no test write (it would create an unmapped index);
    after: every line ok, exit 0, and the test documents are gone again."""
    client = OpenSearch([opensearch_url])
    log, state = tmp_path / "exim_mainlog", tmp_path / "state"
    log.write_bytes(SAMPLE.read_bytes())
    before = check(url=opensearch_url, prefix=prefix, state=state, log=log)
    assert before.returncode == 1, before.stdout + before.stderr
    lines = before.stdout.splitlines()
    for name in ("ecs-base", "events", "messages"):
        assert f"component template {prefix}-{name}: missing; {HINT}" in lines
    for name in ("events", "messages"):
        assert f"index template {prefix}-{name}: missing; {HINT}" in lines
    assert lines[-1] == "write access: not checked: a test write would create an index without its template"
    assert templates_of(client, prefix) == []
    assert client.indices.get(index=f"{prefix}-*") == {}

    setup = shipper("setup", url=opensearch_url, prefix=prefix, state=state)
    assert setup.returncode == 0, setup.stderr
    after = check(url=opensearch_url, prefix=prefix, state=state, log=log)
    assert (after.returncode, after.stderr) == (0, ""), after.stdout
    lines = after.stdout.splitlines()
    assert lines[:3] == [
        "config: ok (no config file: defaults, environment and flags)",
        f"log {log}: ok",
        f"state directory {state}: ok (not there yet; it will be created)",
    ]
    assert re.fullmatch(rf"cluster {re.escape(opensearch_url)}: ok \(OpenSearch \d+\.\d+\.\d+\)", lines[3])
    assert lines[4:9] == [
        f"component template {prefix}-ecs-base: ok",
        f"component template {prefix}-events: ok",
        f"component template {prefix}-messages: ok",
        f"index template {prefix}-events: ok",
        f"index template {prefix}-messages: ok",
    ]
    assert lines[9].startswith(f"ISM policy {prefix}-events: ok")
    assert lines[10] == "index mappings: ok (every existing index maps its fields as the templates do)"
    assert re.fullmatch(rf"write \(create\) to {prefix}-events-\d{{4}}\.\d\d\.\d\d: ok", lines[11])
    assert re.fullmatch(rf"write \(index\) to {prefix}-messages-\d{{4}}\.\d\d: ok", lines[12])
    assert len(lines) == 13
    assert count(opensearch_url, f"{prefix}-*") == 0  # the test documents were deleted
    assert not state.exists()  # check looks, it does not create


@pytest.mark.usefixtures("set_up")
def test_an_index_mapped_otherwise_than_the_templates_is_found_by_check_and_setup(
    opensearch_url: str, prefix: str, tmp_path: Path
) -> None:
    """Today a `@timestamp` mapped as text by someone else makes the report silently leave out its events."""
    client = OpenSearch([opensearch_url])
    index = f"{prefix}-events-2020.01.01"
    client.indices.create(index=index, body={"mappings": {"properties": {"@timestamp": {"type": "text"}}}})
    log, state = tmp_path / "exim_mainlog", tmp_path / "state"
    log.write_bytes(SAMPLE.read_bytes())
    res = check(url=opensearch_url, prefix=prefix, state=state, log=log)
    assert res.returncode == 1, res.stdout
    expected = f"index mappings: index {index}: @timestamp is text, not date; reindex or delete such an index"
    assert any(line.startswith(expected) for line in res.stdout.splitlines()), res.stdout
    setup = shipper("setup", url=opensearch_url, prefix=prefix, state=state)
    assert setup.returncode == 0, setup.stderr
    assert f"exim-shipper: warning: index {index}: @timestamp is text, not date;" in setup.stderr
    client.indices.delete(index=index)
    again = check(url=opensearch_url, prefix=prefix, state=state, log=log)
    assert "index mappings: ok" in again.stdout, again.stdout


@pytest.mark.usefixtures("set_up")
def test_a_changed_template_fails_check_and_backfill_warns_but_leaves_it(
    opensearch_url: str, prefix: str, tmp_path: Path
) -> None:
    client = OpenSearch([opensearch_url])
    alter_component_template(client, f"{prefix}-events")
    log = tmp_path / "exim_mainlog"
    log.write_bytes(SAMPLE.read_bytes())
    res = check(url=opensearch_url, prefix=prefix, state=tmp_path, log=log)
    assert res.returncode == 1
    bad = [x for x in res.stdout.splitlines() if not re.search(r": ok( \(.*\))?$", x)]
    assert bad == [f"component template {prefix}-events: differs from what this version installs; {HINT}"]

    shipped = shipper(
        "backfill", str(log), "--quiet", url=opensearch_url, prefix=prefix, state=tmp_path / "st"
    )
    assert shipped.returncode == 0, shipped.stderr
    assert shipped.stderr.splitlines()[0] == (
        "exim-shipper: warning: templates differ from what this version installs "
        f"(component template {prefix}-events); {HINT}"
    )
    assert count(opensearch_url, f"{prefix}-events-*") == 24
    assert stored_hash(client, f"{prefix}-events") == "0000000000000000"  # not "fixed" by backfill


def test_check_with_the_cluster_unreachable(prefix: str, tmp_path: Path) -> None:
    log = tmp_path / "exim_mainlog"
    log.write_bytes(SAMPLE.read_bytes())
    url = f"http://127.0.0.1:{closed_port()}"
    res = check(url=url, prefix=prefix, state=tmp_path, log=log)
    assert res.returncode == 1
    lines = res.stdout.splitlines()
    assert lines[1:3] == [f"log {log}: ok", f"state directory {tmp_path}: ok"]
    assert lines[3].startswith(f"cluster {url}: cannot connect to OpenSearch ("), lines[3]
    assert lines[4:] == ["templates and write access: not checked: the cluster was not reached"]


def as_plain_reader(cmd: list[str]) -> list[str]:
    """root reads any file: without CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH it obeys the file's mode."""
    if os.geteuid() != 0:
        return cmd
    if shutil.which("setpriv") is None:
        pytest.skip("running as root and setpriv (util-linux) is missing: no way to be refused a read")
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *cmd]


@pytest.mark.usefixtures("set_up")
def test_check_with_an_unreadable_log(opensearch_url: str, prefix: str, tmp_path: Path) -> None:
    log = tmp_path / "exim_mainlog"
    log.write_bytes(SAMPLE.read_bytes())
    log.chmod(0)
    missing = tmp_path / "exim_paniclog"
    cmd = as_plain_reader(
        command("check", str(log), str(missing), url=opensearch_url, prefix=prefix, state=tmp_path)
    )
    res = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT, timeout=120)
    assert res.returncode == 1
    lines = res.stdout.splitlines()
    assert lines[1:4] == [
        f"log {log}: cannot be read by uid {os.geteuid()} (permission denied)",
        f"log {missing}: ok (not there yet)",
        f"logs: no readable log file among the configured paths ({log}, {missing})",
    ]
    assert all(x.endswith(": ok") or ": ok (" in x for x in lines[4:]), lines  # the cluster side is fine


def test_backfill_without_templates_refuses_and_creates_nothing(
    opensearch_url: str, prefix: str, tmp_path: Path
) -> None:
    client = OpenSearch([opensearch_url])
    res = shipper("backfill", str(SAMPLE), url=opensearch_url, prefix=prefix, state=tmp_path)
    assert res.returncode == 1
    assert "Traceback" not in res.stderr
    assert res.stderr.splitlines()[-1] == (
        f"exim-shipper: the cluster has no index templates for prefix '{prefix}'; {HINT} first"
    )
    assert templates_of(client, prefix) == []
    assert client.indices.get(index=f"{prefix}-*") == {}


@pytest.mark.usefixtures("set_up")
def test_backfill_with_one_template_missing_refuses(opensearch_url: str, prefix: str, tmp_path: Path) -> None:
    client = OpenSearch([opensearch_url])
    client.indices.delete_index_template(name=f"{prefix}-messages")
    res = shipper("backfill", str(SAMPLE), url=opensearch_url, prefix=prefix, state=tmp_path)
    assert res.returncode == 1
    assert res.stderr == (
        f"exim-shipper: templates missing in the cluster (index template {prefix}-messages); {HINT} first\n"
    )
    assert client.indices.get(index=f"{prefix}-*") == {}


def test_run_without_templates_refuses(opensearch_url: str, prefix: str, tmp_path: Path) -> None:
    log = tmp_path / "exim_mainlog"
    log.write_bytes(SAMPLE.read_bytes())
    res = subprocess.run(
        command("run", str(log), url=opensearch_url, prefix=prefix, state=tmp_path / "state"),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert res.returncode == 1
    assert "Traceback" not in res.stderr
    assert res.stderr.splitlines()[-1] == (
        f"exim-shipper: the cluster has no index templates for prefix '{prefix}'; {HINT} first"
    )
    assert templates_of(OpenSearch([opensearch_url]), prefix) == []


@pytest.mark.usefixtures("set_up")
def test_run_waits_for_the_cluster_then_checks_warns_and_ships(
    opensearch_url: str, prefix: str, tmp_path: Path
) -> None:
    """The sidecar starts before its cluster: it waits, then looks at the templates (one differs: a
    warning), then follows; the template stays as it was."""
    client = OpenSearch([opensearch_url])
    alter_component_template(client, f"{prefix}-messages")
    log = tmp_path / "exim_mainlog"
    log.write_bytes(SAMPLE.read_bytes())
    gate = Gate(opensearch_url)
    env = {**os.environ, "EXIM_SHIPPER_RETRY_MAX_WAIT": "0.3", "EXIM_SHIPPER_BATCH_MAX_AGE": "0.2"}
    cmd = command("run", str(log), url=gate.url, prefix=prefix, state=tmp_path / "state")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    err = Lines(proc.stderr)
    try:
        time.sleep(1.5)  # refused connections, retried
        assert proc.poll() is None, "run gave up on a cluster that is not up yet"
        opened = f"INFO exim-shipper: following {log} from byte"
        assert not any(opened in x for x in err.lines)
        gate.open()
        err.wait_for(lambda ls: any(opened in x for x in ls))
        warned = [x for x in err.lines if "warning" in x]
        assert warned[0] == (
            "exim-shipper: warning: templates differ from what this version installs "
            f"(component template {prefix}-messages); {HINT}"
        )
        assert err.lines.index(warned[0]) < next(n for n, x in enumerate(err.lines) if opened in x)
        assert wait_for(opensearch_url, f"{prefix}-events-*", 24) == 24
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        gate.close()
    assert count(opensearch_url, f"{prefix}-events-*") == 24
    assert stored_hash(client, f"{prefix}-messages") == "0000000000000000"
