"""deploy/systemd/: the unit passes `systemd-analyze verify` silently, scores as hardened, and agrees with
the program (its command parses, its variables are settings) and with the sysusers snippet."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path, PurePosixPath

import pytest

from shipper.cli import build_parser
from shipper.settings import CONFIG_ENV, Settings

ROOT = Path(__file__).resolve().parents[2]
SYSTEMD = ROOT / "deploy" / "systemd"
UNIT = SYSTEMD / "exim-shipper.service"
SYSUSERS = SYSTEMD / "exim-shipper.sysusers"
# What `systemd-analyze security` says of the unit today is 1.3 ("OK"); a change that loosens the sandbox
# noticeably (PrivateDevices=, ProtectSystem=, the system call filter, …) takes it past this.
MAX_EXPOSURE = 2.0


def directives(path: Path = UNIT) -> list[tuple[str, str, str]]:
    """(section, key, value) in file order; keys may repeat, as systemd allows."""
    out: list[tuple[str, str, str]] = []
    section = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, sep, value = line.partition("=")
        assert sep, f"not a directive: {raw!r}"
        out.append((section, key.strip(), value.strip()))
    return out


def values(key: str, section: str = "Service") -> list[str]:
    return [v for s, k, v in directives() if (s, k) == (section, key)]


def value(key: str, section: str = "Service") -> str:
    (found,) = values(key, section)
    return found


def environment() -> dict[str, str]:
    env: dict[str, str] = {}
    for assignment in values("Environment"):
        for word in shlex.split(assignment):
            name, _, val = word.partition("=")
            env[name] = val
    return env


def analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        pytest.skip("systemd-analyze is not installed")
    return found


def unit_root(tmp: Path, unit_text: str, with_binary: bool = True) -> Path:
    """A file system root holding the unit, the targets its dependencies name, and (unless told
    otherwise) an executable where ExecStart points, so that verify checks this unit and nothing
    of the machine it runs on."""
    units = tmp / "etc" / "systemd" / "system"
    units.mkdir(parents=True)
    (units / UNIT.name).write_text(unit_text)
    # The default dependencies of a service, and what the unit itself wants.
    for target in ("sysinit.target", "basic.target", "shutdown.target", *values("Wants", "Unit")):
        (units / target).write_text(f"[Unit]\nDescription={target}\n")
    if with_binary:
        binary = tmp / shlex.split(value("ExecStart"))[0].lstrip("/")
        binary.parent.mkdir(parents=True)
        binary.write_text("#!/bin/sh\n")
        binary.chmod(0o755)
    return tmp


def verify(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [analyze(), "verify", f"--root={root}", f"/etc/systemd/system/{UNIT.name}"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_systemd_analyze_verify_accepts_the_unit_without_a_word(tmp_path: Path) -> None:
    """Exit 0 and no output at all: an unknown or misspelt directive is only a warning line to verify."""
    res = verify(unit_root(tmp_path, UNIT.read_text()))
    assert (res.returncode, res.stdout + res.stderr) == (0, "")


def test_verify_is_live_it_reports_a_misspelt_key_and_a_missing_binary(tmp_path: Path) -> None:
    text = UNIT.read_text().replace("ProtectSystem=strict", "ProtectSytem=strict")
    res = verify(unit_root(tmp_path / "typo", text))
    assert "Unknown key 'ProtectSytem'" in res.stdout + res.stderr
    res = verify(unit_root(tmp_path / "nobin", UNIT.read_text(), with_binary=False))
    assert res.returncode != 0
    assert "/opt/exim-shipper/bin/exim-shipper is not executable" in res.stdout + res.stderr


def test_security_exposure_stays_low(tmp_path: Path) -> None:
    root = unit_root(tmp_path, UNIT.read_text())
    res = subprocess.run(
        [analyze(), "security", "--offline=yes", f"--root={root}", "--no-pager", UNIT.name],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    found = re.search(rf"Overall exposure level for {UNIT.name}: ([\d.]+)", res.stdout)
    assert found is not None, res.stdout
    assert float(found.group(1)) <= MAX_EXPOSURE, res.stdout


def test_the_sandbox_directives_the_deployment_relies_on() -> None:
    """The parts docs/deploy.md promises; systemd-analyze scores the rest."""
    assert value("User") == value("Group") == "exim-shipper"
    assert value("SupplementaryGroups") == "mail"  # cPanel's exim logs: mailnull:mail 0640
    assert value("ProtectSystem") == "strict"
    assert value("ProtectHome") == "yes"
    assert value("PrivateTmp") == "yes"
    assert value("NoNewPrivileges") == "yes"
    assert value("CapabilityBoundingSet") == ""
    assert value("RestrictAddressFamilies") == "AF_INET AF_INET6 AF_UNIX"
    assert values("SystemCallFilter")[0] == "@system-service"
    assert value("Restart") == "on-failure"
    restart = re.fullmatch(r"(\d+)s", value("RestartSec"))
    assert restart is not None and 1 <= int(restart.group(1)) <= 60
    # SIGTERM drains and checkpoints: give it the time the container examples give it.
    assert int(value("TimeoutStopSec")) >= 30
    assert value("WantedBy", "Install") == "multi-user.target"


def test_state_logs_and_config_are_where_the_settings_look() -> None:
    env = environment()
    state = PurePosixPath("/var/lib") / value("StateDirectory")
    assert env["EXIM_SHIPPER_STATE_DIR"] == str(state) == "/var/lib/exim-shipper"
    argv = shlex.split(value("ExecStart"))
    assert argv[argv.index("--config") + 1] == "/etc/exim-shipper/config.toml"
    read_only = [PurePosixPath(p) for p in value("ReadOnlyPaths").split()]
    hidden = [PurePosixPath(p.lstrip("-")) for p in value("InaccessiblePaths").split()]
    for path in Settings.model_fields["paths"].get_default(call_default_factory=True):
        log = PurePosixPath(path)
        assert any(log.is_relative_to(d) for d in read_only), log
        assert not any(log.is_relative_to(d) for d in hidden), log
    assert not any(state.is_relative_to(d) for d in hidden + read_only)
    assert values("EnvironmentFile") == ["-/etc/exim-shipper/env"]  # optional: a keyless cluster needs none


def test_every_exim_shipper_variable_is_a_real_setting() -> None:
    """A misspelt variable would be silently ignored by the settings (extra="ignore")."""
    known = {f"EXIM_SHIPPER_{name.upper()}" for name in Settings.model_fields} | {CONFIG_ENV}
    ours = {name for name in environment() if name.startswith("EXIM_SHIPPER_")}
    assert ours, "the unit names its state directory"
    assert ours <= known, ours - known


def test_exec_start_is_a_command_the_cli_accepts() -> None:
    argv = shlex.split(value("ExecStart"))
    assert argv[0] == "/opt/exim-shipper/bin/exim-shipper"  # where `make install-runtime` puts it
    assert argv[1] == "run"
    try:
        build_parser().parse_args(argv[1:])
    except SystemExit:
        pytest.fail(f"{shlex.join(argv)} does not parse")


def test_sysusers_snippet_creates_the_units_user(tmp_path: Path) -> None:
    sysusers = shutil.which("systemd-sysusers")
    if sysusers is None:
        pytest.skip("systemd-sysusers is not installed")
    conf = tmp_path / "usr" / "lib" / "sysusers.d"
    conf.mkdir(parents=True)
    shutil.copy(SYSUSERS, conf / "exim-shipper.conf")
    (tmp_path / "etc").mkdir()
    res = subprocess.run(
        [sysusers, f"--root={tmp_path}", "exim-shipper.conf"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    users = {
        line.split(":")[0]: line.split(":") for line in (tmp_path / "etc" / "passwd").read_text().splitlines()
    }
    entry = users[value("User")]
    assert 0 < int(entry[2]) < 1000  # a system user
    assert entry[5] == "/var/lib/exim-shipper"
    assert entry[6].endswith("/nologin")
    groups = (tmp_path / "etc" / "group").read_text()
    assert re.search(rf"^{value('Group')}:x:{entry[3]}:$", groups, re.M)  # own group, no members
