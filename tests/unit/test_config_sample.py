"""deploy/config.toml.sample lists every setting with its real default and a comment, and is valid TOML
that the settings accept when every line is uncommented, so that it cannot drift from shipper/settings.py."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, SecretStr

from shipper.settings import CONFIG_ENV, Settings, load

SAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "config.toml.sample"
SETTING = re.compile(r"#([a-z][a-z0-9_]*) = (.*)$")  # `#name = value`; prose is `# …`
EXAMPLE = "an example: unset by default"  # the mark of a setting whose default is None


def sample_lines() -> list[tuple[str, str, str]]:
    """(name, the uncommented `name = value …` line, the comment line just above it)."""
    lines = SAMPLE.read_text().splitlines()
    out = []
    for i, line in enumerate(lines):
        found = SETTING.match(line)
        if found:
            out.append((found.group(1), line[1:], lines[i - 1] if i else ""))
    return out


def uncommented() -> dict[str, Any]:
    return tomllib.loads("\n".join(text for _, text, _ in sample_lines()))


def defaults(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Each field's default; the state directory's as the service (root) sees it."""
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    return {name: f.get_default(call_default_factory=True) for name, f in Settings.model_fields.items()}


def plain(value: Any) -> Any:
    """A settings value as TOML writes it."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return value


def test_every_setting_is_there_once_and_nothing_else() -> None:
    names = [name for name, _, _ in sample_lines()]
    assert len(names) == len(set(names)), "a setting listed twice"
    for name, field in Settings.model_fields.items():
        assert not (isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)), (
            f"{name} is a section: teach this test TOML tables"
        )
    assert set(names) == set(Settings.model_fields), (
        f"missing: {sorted(set(Settings.model_fields) - set(names))}, "
        f"unknown: {sorted(set(names) - set(Settings.model_fields))}"
    )


def test_each_value_is_the_real_default(monkeypatch: pytest.MonkeyPatch) -> None:
    values = uncommented()
    for name, default in defaults(monkeypatch).items():
        line = next(text for n, text, _ in sample_lines() if n == name)
        if default is None:
            # No TOML null: the line shows an example and says so.
            assert line.endswith(f"# {EXAMPLE}") or f"# {EXAMPLE} (" in line, line
        else:
            assert EXAMPLE not in line, line
            assert values[name] == plain(default), (name, values[name], default)
            assert type(values[name]) is type(plain(default)), (name, values[name])  # 30.0, not 30


def test_each_setting_has_a_one_line_comment_above_it() -> None:
    for name, _, above in sample_lines():
        assert above.startswith("# ") and len(above) > 12, f"{name}: no comment line above it"
        assert not SETTING.match(above), name


def test_the_whole_sample_uncommented_is_accepted_by_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Types and validators (URLs, zone, prefix) pass for every value shown, examples included."""
    for var in list(os.environ):
        if var.startswith("EXIM_SHIPPER_"):
            monkeypatch.delenv(var)
    # A secret and the file that holds it exclude each other: the sample is taken once with each.
    for leave_out in ({"password_file", "api_key_file"}, {"password", "api_key"}):
        config = tmp_path / "config.toml"
        config.write_text("\n".join(text for name, text, _ in sample_lines() if name not in leave_out) + "\n")
        monkeypatch.setenv(CONFIG_ENV, str(config))
        if "password" in leave_out:
            for name in ("password_file", "api_key_file"):
                secret = tmp_path / name
                secret.write_text("s3cret\n")
                text = config.read_text().replace(uncommented()[name], str(secret))
                config.write_text(text)
        settings = load({})
        for name, value in uncommented().items():
            if name in leave_out:
                continue
            if name.endswith("_file"):
                assert plain(getattr(settings, name.removesuffix("_file"))) == "s3cret", name
                continue
            assert plain(getattr(settings, name)) == value, name


def test_the_configuration_examples_of_docs_deploy_are_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each ```toml block of docs/deploy.md is a file the settings take as it stands."""
    for var in list(os.environ):
        if var.startswith("EXIM_SHIPPER_"):
            monkeypatch.delenv(var)
    docs = (SAMPLE.parents[1] / "docs" / "deploy.md").read_text()
    blocks = re.findall(r"^```toml\n(.*?)^```$", docs, re.M | re.S)
    assert blocks
    for block in blocks:
        data = tomllib.loads(block)
        assert set(data) <= set(Settings.model_fields), set(data) - set(Settings.model_fields)
        config = tmp_path / "config.toml"
        config.write_text(block)
        monkeypatch.setenv(CONFIG_ENV, str(config))
        settings = load({})
        for name, value in data.items():
            assert plain(getattr(settings, name)) == value, name
