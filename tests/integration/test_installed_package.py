"""The package as a user gets it: a wheel built from the sources the image copies, installed into a fresh venv.

From a directory that is not the repository, the installed `exim-shipper` prints its version, runs
`setup` (templates into the real node, saved objects into a small fake Dashboards) and `backfill`: every
file those commands read travels inside the wheel as package data.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from opensearchpy import OpenSearch

from shipper.opensearch.dashboards import SAVED_OBJECTS, retarget
from shipper.opensearch.provision import COMPONENTS, INDEX_TEMPLATES, TEMPLATES
from tests.integration.test_backfill import ROOT, SAMPLE, count, local_summaries
from tests.unit.test_dashboards_import import FakeDashboards, serving_dashboards

DATA_DIRS = ("index_templates", "kibana")
DATA_SUFFIXES = (".json", ".ndjson")


def run(
    *cmd: str | Path, cwd: Path, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    # Nothing of the repository or of the test run leaks in: no PYTHONPATH, no EXIM_SHIPPER_* settings.
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("EXIM_SHIPPER_")}
    return subprocess.run(
        [str(c) for c in cmd],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=clean | (env or {}),
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="session")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv holding only the wheel and its dependencies (pip's warm cache provides them)."""
    base = tmp_path_factory.mktemp("installed")
    # What docker/Dockerfile copies into its build stage; the top-level index_templates/ and kibana/
    # links are left behind, so the wheel cannot lean on them.
    source = base / "exim-shipper"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    # The editable install's module stays behind too: the wheel must hold one maturin built from native/.
    ignore = shutil.ignore_patterns("__pycache__", "_native*.so", "target")
    shutil.copytree(ROOT / "shipper", source / "shipper", ignore=ignore)
    shutil.copytree(ROOT / "native", source / "native", ignore=ignore)
    dist = base / "dist"
    # A target directory of its own that outlives the test, so the crates.io dependencies build once (the
    # dev build's directory is not shared: the same crates at another path would overwrite its module).
    env = {"CARGO_TARGET_DIR": str(ROOT / "native" / "target" / "installed-package")}
    built = run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", source, "-w", dist, cwd=base,
                timeout=1200, env=env)  # fmt: skip
    assert built.returncode == 0, built.stderr
    (wheel,) = dist.glob("exim_shipper-*.whl")
    venv = base / "venv"
    made = run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=base)
    assert made.returncode == 0, made.stderr
    # The test run's own pip installs into the new venv (as pipx does), which saves bootstrapping one.
    installed = run(sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "--quiet",
                    wheel, cwd=base)  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    return venv


@pytest.fixture
def dashboards() -> Iterator[FakeDashboards]:
    with serving_dashboards(FakeDashboards(require_auth=False)) as state:
        yield state


def test_the_installed_package_is_its_own_and_carries_every_data_file(venv: Path, tmp_path: Path) -> None:
    probe = "import importlib.resources as r, shipper; print(shipper.__file__); print(r.files('shipper'))"
    res = run(venv / "bin" / "python", "-c", probe, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    module, package = res.stdout.splitlines()
    assert Path(module).is_relative_to(venv) and Path(package).is_relative_to(venv)
    installed, ours = Path(package), ROOT / "shipper"

    def data_files(root: Path) -> set[str]:
        return {
            str(p.relative_to(root))
            for d in DATA_DIRS
            for p in (root / d).rglob("*")
            if p.suffix in DATA_SUFFIXES
        }

    assert data_files(installed) == data_files(ours)
    assert len(data_files(ours)) == 8
    for rel in data_files(ours):
        assert (installed / rel).read_bytes() == (ours / rel).read_bytes(), rel


def test_the_installed_package_carries_the_native_core_it_was_built_with(venv: Path, tmp_path: Path) -> None:
    """The wheel's own shipper._native (not the editable install's), and it ships the sample exactly as the
    module the editable install built from the same crates does."""
    res = run(venv / "bin" / "python", "-c", "import shipper._native as n; print(n.__file__)", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    module = Path(res.stdout.strip())
    assert module.is_relative_to(venv) and module.name == "_native.abi3.so"
    installed = reader_output(venv / "bin" / "python", tmp_path)
    assert installed.split()[2] == "24"  # entries of the sample
    assert installed == reader_output(Path(sys.executable), tmp_path)


def reader_output(python: Path, cwd: Path) -> str:
    """Digests of the bulk body and records one interpreter's shipper._native makes of the sample."""
    code = (
        "import hashlib, shipper._native as n, sys\n"
        "r = n.Reader(server='mx1', zone='Europe/London', dataset='exim.main', path='/var/log/exim_mainlog',"
        " index_prefix='exim')\n"
        "b1, r1 = r.feed(open(sys.argv[1], 'rb').read(), 0)\n"
        "b2, r2 = r.finish()\n"
        "print(hashlib.sha256(b1 + b2).hexdigest(), hashlib.sha256(r1 + r2).hexdigest(), len(r1 + r2) // n.RECORD_SIZE)\n"
    )
    res = run(python, "-c", code, SAMPLE, cwd=cwd)
    assert res.returncode == 0, res.stderr
    return res.stdout


def test_version_comes_from_the_package_metadata(venv: Path, tmp_path: Path) -> None:
    res = run(venv / "bin" / "exim-shipper", "--version", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert res.stdout == f"exim-shipper {version}\n"


def test_setup_and_backfill_run_from_the_installed_package(
    venv: Path, tmp_path: Path, opensearch_url: str, prefix: str, dashboards: FakeDashboards
) -> None:
    exe = venv / "bin" / "exim-shipper"
    common = ("--opensearch-url", opensearch_url, "--index-prefix", prefix)
    setup = run(exe, "setup", *common, "--dashboards-url", dashboards.url, cwd=tmp_path)
    assert setup.returncode == 0, setup.stderr
    client = OpenSearch([opensearch_url])
    for name in COMPONENTS:
        assert f"component template {prefix}-{name}: created" in setup.stdout
        got = client.transport.perform_request("GET", f"/_component_template/{prefix}-{name}")
        want = json.loads((TEMPLATES / "component" / f"{name}.json").read_text())
        assert (
            got["component_templates"][0]["component_template"]["template"]["mappings"]
            == want["template"]["mappings"]
        )
    for name in INDEX_TEMPLATES:
        assert f"index template {prefix}-{name}: created" in setup.stdout
        assert client.indices.exists_index_template(name=f"{prefix}-{name}")

    # The saved objects the installed package sent are the repository's, aimed at this prefix.
    assert len(dashboards.requests) == 1
    sent = [json.loads(line) for line in retarget(SAVED_OBJECTS.read_bytes(), prefix).splitlines()]
    assert len(sent) == len(SAVED_OBJECTS.read_text().splitlines())
    assert dashboards.stored == {(obj["type"], obj["id"]): obj for obj in sent}

    log = tmp_path / "exim_mainlog"
    shutil.copy2(SAMPLE, log)
    backfill = run(exe, "backfill", "--quiet", "--timezone", "UTC", "--server-name", "mx1", *common, "--state-dir", tmp_path / "state", log.name,
                   cwd=tmp_path)  # fmt: skip
    assert backfill.returncode == 0, backfill.stderr
    assert count(opensearch_url, f"{prefix}-events-*") == 24
    assert count(opensearch_url, f"{prefix}-messages-*") == len(local_summaries(SAMPLE))
    # The documents went into indices the installed templates shaped (dynamic mapping would make a text field).
    mapping = client.indices.get_mapping(index=f"{prefix}-events-*")
    for index in mapping.values():
        assert index["mappings"]["properties"]["exim"]["properties"]["flag"]["type"] == "keyword"


def test_the_repository_keeps_one_copy_of_the_data() -> None:
    """The top-level index_templates/ and kibana/ are links into the package, never second copies."""
    for name in DATA_DIRS:
        top = ROOT / name
        assert top.is_symlink(), f"{name} must be a link to shipper/{name}"
        assert top.resolve() == (ROOT / "shipper" / name).resolve()
    assert Path(str(TEMPLATES)) == ROOT / "shipper" / "index_templates"
