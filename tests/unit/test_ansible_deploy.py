"""deploy/ansible/: yamllint, `ansible-playbook --syntax-check`, its templates rendered by Ansible itself into
a configuration the settings accept, and the files it installs where the systemd unit expects them."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from shipper.settings import CONFIG_ENV, Settings, load

ROOT = Path(__file__).resolve().parents[2]
ANSIBLE = ROOT / "deploy" / "ansible"
PLAYBOOK = ANSIBLE / "exim-shipper.yml"
INVENTORY = ANSIBLE / "inventory.example.yml"
UNIT = ROOT / "deploy" / "systemd" / "exim-shipper.service"
BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{name} is not installed: pip install -e '.[dev]'")
    return str(path)


def run(*cmd: str, home: Path) -> subprocess.CompletedProcess[str]:
    # Ansible writes its temporary files and caches under ANSIBLE_HOME: keep them out of $HOME.
    env = {**os.environ, "ANSIBLE_HOME": str(home), "ANSIBLE_LOCAL_TEMP": str(home / "tmp")}
    env["ANSIBLE_NOCOLOR"] = "1"
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, check=False, timeout=120)


def tasks() -> dict[str, dict[str, Any]]:
    (play,) = yaml.safe_load(PLAYBOOK.read_text())
    return {t["name"]: t for t in play["tasks"] + play["handlers"]}


def module(task: dict[str, Any]) -> tuple[str, Any]:
    (name,) = [k for k in task if k.startswith("ansible.")]
    return name, task[name]


def test_yaml_passes_yamllint() -> None:
    res = subprocess.run(
        [tool("yamllint"), "--strict", "-c", "docker/.yamllint.yaml", "deploy"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert (res.returncode, res.stdout + res.stderr) == (0, "")


def test_playbook_passes_ansible_syntax_check(tmp_path: Path) -> None:
    res = run(tool("ansible-playbook"), "--syntax-check", "-i", str(INVENTORY), str(PLAYBOOK), home=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    # The check is live: a task naming two modules is refused.
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "- hosts: all\n  tasks:\n    - ansible.builtin.ping:\n      ansible.builtin.debug: {msg: x}\n"
    )
    res = run(tool("ansible-playbook"), "--syntax-check", "-i", "localhost,", str(broken), home=tmp_path)
    assert res.returncode != 0
    assert "conflicting action statements" in res.stdout + res.stderr


def render(template: str, variables: dict[str, Any], tmp: Path) -> str:
    """The template as Ansible's own template module writes it (its filters, its whitespace rules)."""
    dest = tmp / Path(template).stem
    res = run(
        tool("ansible"),
        "localhost",
        "-i",
        "localhost,",
        "-c",
        "local",
        "-m",
        "ansible.builtin.template",
        "-a",
        f"src={ANSIBLE / 'templates' / template} dest={dest}",
        "-e",
        json.dumps({"ansible_python_interpreter": sys.executable, **variables}),
        home=tmp,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    return dest.read_text()


def play_vars() -> dict[str, Any]:
    (play,) = yaml.safe_load(PLAYBOOK.read_text())
    found: dict[str, Any] = play["vars"]
    return found


def test_rendered_config_is_one_the_settings_accept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Defaults of the play plus an inventory's values, through the real template module, then Settings."""
    variables = {k: v for k, v in play_vars().items() if "{{" not in str(v)}
    variables |= {
        "exim_shipper_server_name": 'mx1.example.net "quoted"',
        "exim_shipper_cluster_url": ["https://a.example.net:9200", "https://b.example.net:9200"],
        "exim_shipper_password": "secret",
        "exim_shipper_ca_file": "files/ca.pem",
        "exim_shipper_timezone": "Europe/Paris",
        "exim_shipper_extra": {"batch_max_age": 1.0, "index_prefix": "mail"},
    }
    text = render("config.toml.j2", variables, tmp_path)
    data = tomllib.loads(text)
    assert set(data) <= set(Settings.model_fields), set(data) - set(Settings.model_fields)
    for var in list(os.environ):
        if var.startswith("EXIM_SHIPPER_"):
            monkeypatch.delenv(var)
    config = tmp_path / "config.toml"
    config.write_text(text)
    monkeypatch.setenv(CONFIG_ENV, str(config))
    settings = load({})
    assert settings.server_name == 'mx1.example.net "quoted"'
    assert settings.opensearch_url == variables["exim_shipper_cluster_url"]
    assert settings.username == "exim-shipper"
    assert str(settings.ca_certs) == "/etc/exim-shipper/ca.pem"
    assert settings.timezone == "Europe/Paris"
    assert (settings.batch_max_age, settings.index_prefix) == (1.0, "mail")
    assert settings.password is None  # secrets live in the env file, not here

    # An API key instead: no user name, one URL as a plain string, no CA, the machine's zone.
    variables |= {
        "exim_shipper_password": "",
        "exim_shipper_api_key": "a2V5",
        "exim_shipper_cluster_url": "https://a.example.net:9200",
        "exim_shipper_ca_file": "",
        "exim_shipper_timezone": "",
        "exim_shipper_extra": {},
    }
    data = tomllib.loads(render("config.toml.j2", variables, tmp_path))
    assert data["opensearch_url"] == ["https://a.example.net:9200"]
    assert "username" not in data and "ca_certs" not in data
    assert data["timezone"] == ""


def test_rendered_env_file_holds_the_secret_literally(tmp_path: Path) -> None:
    """Single-quoted, as both systemd's EnvironmentFile= and compose's env_file take it literally."""
    password = 'p@$s "w\\rd" #1 `x`'
    variables = {**play_vars(), "exim_shipper_password": password, "exim_shipper_api_key": ""}
    variables = {k: v for k, v in variables.items() if "{{" not in str(v)}
    lines = [line for line in render("env.j2", variables, tmp_path).splitlines() if not line.startswith("#")]
    assert lines == [f"EXIM_SHIPPER_PASSWORD='{password}'"]
    variables |= {"exim_shipper_api_key": "a2V5OnNlY3JldA=="}
    lines = [line for line in render("env.j2", variables, tmp_path).splitlines() if not line.startswith("#")]
    assert lines == ["EXIM_SHIPPER_API_KEY='a2V5OnNlY3JldA=='"]
    for line in lines:
        name = line.split("=", 1)[0]
        assert name.removeprefix("EXIM_SHIPPER_").lower() in Settings.model_fields


def test_playbook_installs_what_the_unit_expects_where_it_expects_it() -> None:
    unit = UNIT.read_text()
    by_name = tasks()
    copies = {
        args["dest"]: args
        for task in by_name.values()
        for mod, args in [module(task)]
        if mod in ("ansible.builtin.copy", "ansible.builtin.template")
    }
    variables = play_vars()
    # The repository's own unit and sysusers snippet, not copies of them.
    unit_src = copies["/etc/systemd/system/exim-shipper.service"]["src"]
    assert unit_src == "{{ exim_shipper_unit }}"
    assert variables["exim_shipper_unit"] == "{{ playbook_dir }}/../systemd/exim-shipper.service"
    assert (PLAYBOOK.parent / "../systemd/exim-shipper.service").resolve() == UNIT
    sysusers = copies["/usr/lib/sysusers.d/exim-shipper.conf"]
    assert (PLAYBOOK.parent / "../systemd/exim-shipper.sysusers").is_file()
    assert sysusers["src"] == "{{ exim_shipper_sysusers }}"

    config = re.search(r"^ExecStart=\S+ run --config (\S+)$", unit, re.M)
    secrets = re.search(r"^EnvironmentFile=-(\S+)$", unit, re.M)
    assert config is not None and secrets is not None
    assert copies[config.group(1)]["group"] == "exim-shipper"
    assert copies[config.group(1)]["mode"] == "0640"
    assert (copies[secrets.group(1)]["owner"], copies[secrets.group(1)]["mode"]) == ("root", "0600")
    assert by_name["Write the secrets (read by systemd as root, never by the service user)"]["no_log"] is True
    # The unit runs what the venv holds.
    exec_start = re.search(r"^ExecStart=(\S+)", unit, re.M)
    assert exec_start is not None
    assert exec_start.group(1) == f"{variables['exim_shipper_venv']}/bin/exim-shipper"
    assert by_name["Enable and start the service"]["ansible.builtin.systemd_service"]["enabled"] is True
