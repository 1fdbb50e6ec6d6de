"""A single-node OpenSearch with the security plugin (TLS on HTTP and transport, internal users, roles) on
loopback, for the least-privilege tests and for trying docs/security.md by hand.

    EXIM_SHIPPER_ADMIN_PASSWORD=… python tools/secured_opensearch.py start [--port 9201] [--data DIR]
    python tools/secured_opensearch.py stop [--data DIR]

The plugin (`org.opensearch.plugin:opensearch-security:<opensearch version>.0:zip`, Maven Central) goes into
its own copy of the distribution through local_opensearch.distribution(), in the same cache as the plain
node. Everything that belongs to one node lives in its data folder, never in the cache or the work tree: a
private CA, the node's certificate (HTTP and transport) and an admin client certificate (its DN is the
`admin_dn`, for securityadmin.sh) made with the openssl CLI, and a config folder (OPENSEARCH_PATH_CONF) whose
opensearch-security/*.yml — the users with bcrypt hashes, roles and mappings — the node loads into its
security index on first start (`plugins.security.allow_default_init_securityindex`).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import local_opensearch  # a sibling script, not a package

SECURITY_PLUGIN = "org.opensearch.plugin:opensearch-security"
ADMIN = "admin"
NODE_DN = "CN=node,O=exim-shipper test"
ADMIN_DN = "CN=admin,O=exim-shipper test"
# The plugin's bcrypt and its TLS setup want more than the plain node's 512 MB.
HEAP = "-Xms768m -Xmx768m"


@dataclass(frozen=True)
class User:
    """An internal user: its password and the roles (built-in or given to start()) it is mapped to."""

    password: str
    roles: Sequence[str] = ()


@dataclass(frozen=True)
class SecuredNode:
    url: str
    data: Path
    ca: Path  # the private CA that signed the node's certificate: what clients pass as --ca-certs
    admin_cert: Path  # client certificate with the admin DN (securityadmin.sh -cert/-key)
    admin_key: Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _signed(folder: Path, name: str, subject: str, extensions: str) -> None:
    """`name.pem`, signed by the CA, and its key `name-key.pem` in PKCS#8, the one format the plugin reads."""
    _openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-subj", subject,
        "-keyout", f"{name}-key.pem", "-out", f"{name}.csr", cwd=folder,
    )  # fmt: skip
    (folder / f"{name}.ext").write_text(extensions)
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", "root-ca.pem", "-CAkey", "root-ca-key.pem",
        "-CAcreateserial", "-days", "2", "-sha256", "-extfile", f"{name}.ext", "-out", f"{name}.pem",
        cwd=folder,
    )  # fmt: skip


def make_certificates(folder: Path) -> None:
    """root-ca.pem, node.pem (server and client: transport TLS is mutual) and admin.pem in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-sha256",
        "-subj", "/O=exim-shipper test/CN=exim-shipper test root CA",
        "-keyout", "root-ca-key.pem", "-out", "root-ca.pem", cwd=folder,
    )  # fmt: skip
    usage = "keyUsage=digitalSignature,keyEncipherment\n"
    _signed(
        folder,
        "node",
        "/O=exim-shipper test/CN=node",
        usage + "extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    _signed(folder, "admin", "/O=exim-shipper test/CN=admin", usage + "extendedKeyUsage=clientAuth\n")


def bcrypt(home: Path, password: str) -> str:
    """The plugin's own hasher (what its tools/hash.sh runs), given the password in the environment."""
    plugin = home / "plugins" / "opensearch-security"
    classpath = ":".join(str(p) for p in (plugin / "*", plugin / "deps" / "*", home / "lib" / "*"))
    env = {**local_opensearch.java_env(), "EXIM_SHIPPER_HASH_ME": password}
    java = Path(env["JAVA_HOME"]) / "bin" / "java" if "JAVA_HOME" in env else Path("java")
    hasher = "org.opensearch.security.tools.Hasher"
    cmd = [str(java), "-cp", classpath, hasher, "-env", "EXIM_SHIPPER_HASH_ME"]
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return next(line for line in out.splitlines() if line.startswith("$2"))


def _write_yml(path: Path, kind: str, entries: Mapping[str, Any]) -> None:
    # JSON is YAML: no YAML library needed, and nothing in a value can break the syntax.
    body = {"_meta": {"type": kind, "config_version": 2}, **entries}
    path.write_text(json.dumps(body, indent=2) + "\n")


def write_config(
    home: Path, conf: Path, admin_password: str, users: Mapping[str, User], roles: Mapping[str, Any]
) -> None:
    """A config folder for one node: the distribution's, plus certificates and the security config."""
    shutil.rmtree(conf, ignore_errors=True)
    shutil.copytree(home / "config", conf)
    make_certificates(conf)  # the plugin reads PEM files from inside its config folder only
    settings = {
        "plugins.security.ssl.transport.pemcert_filepath": "node.pem",
        "plugins.security.ssl.transport.pemkey_filepath": "node-key.pem",
        "plugins.security.ssl.transport.pemtrustedcas_filepath": "root-ca.pem",
        "plugins.security.ssl.transport.enforce_hostname_verification": False,
        "plugins.security.ssl.http.enabled": True,
        "plugins.security.ssl.http.pemcert_filepath": "node.pem",
        "plugins.security.ssl.http.pemkey_filepath": "node-key.pem",
        "plugins.security.ssl.http.pemtrustedcas_filepath": "root-ca.pem",
        "plugins.security.allow_default_init_securityindex": True,
        "plugins.security.authcz.admin_dn": [ADMIN_DN],
        "plugins.security.nodes_dn": [NODE_DN],
        "plugins.security.restapi.roles_enabled": ["all_access"],
        "cluster.routing.allocation.disk.threshold_enabled": False,
    }
    # DNs hold commas, which -E would split into list items: these settings go into the file.
    (conf / "opensearch.yml").write_text(json.dumps(settings, indent=2) + "\n")
    sec = conf / "opensearch-security"
    everyone = {ADMIN: User(admin_password, ["all_access"]), **users}
    hashes = {name: {"hash": bcrypt(home, u.password)} for name, u in everyone.items()}
    _write_yml(sec / "internal_users.yml", "internalusers", hashes)
    _write_yml(sec / "roles.yml", "roles", roles)
    mapped: dict[str, list[str]] = {}
    for name, u in everyone.items():
        for role in u.roles:
            mapped.setdefault(role, []).append(name)
    _write_yml(sec / "roles_mapping.yml", "rolesmapping", {r: {"users": n} for r, n in mapped.items()})


def prober(ca: Path, user: str, password: str) -> Any:
    """A health probe over TLS (verified against `ca`) with basic auth; until the security index is
    initialised the node answers 503, so 200 means it is ready for users."""
    context = ssl.create_default_context(cafile=str(ca))
    token = base64.b64encode(f"{user}:{password}".encode()).decode()

    def probe(url: str) -> bool:
        headers = {"Authorization": f"Basic {token}"}
        request = urllib.request.Request(f"{url}/_cluster/health", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=2, context=context) as resp:
                return bool(resp.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    return probe


def start(
    port: int,
    data: Path,
    *,
    admin_password: str,
    users: Mapping[str, User] | None = None,
    roles: Mapping[str, Any] | None = None,
    transport_port: int | None = None,
    timeout: float = 180.0,
) -> SecuredNode:
    """Start a secured node on https://127.0.0.1:<port> with `admin` (all_access), `users` and `roles`."""
    home = local_opensearch.distribution([SECURITY_PLUGIN])
    conf = data / "config"
    write_config(home, conf, admin_password, users or {}, roles or {})
    env = local_opensearch.java_env()
    env.setdefault("OPENSEARCH_JAVA_OPTS", HEAP)
    env["OPENSEARCH_PATH_CONF"] = str(conf)
    settings = local_opensearch.node_settings(port, data, "exim-shipper-secured", transport_port)
    url = f"https://127.0.0.1:{port}"
    probe = prober(conf / "root-ca.pem", ADMIN, admin_password)
    local_opensearch.launch(
        home / "bin" / "opensearch",
        settings,
        data,
        "opensearch.pid",
        env=env,
        url=url,
        timeout=timeout,
        probe=probe,
    )
    return SecuredNode(url, data, conf / "root-ca.pem", conf / "admin.pem", conf / "admin-key.pem")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["start", "stop"])
    ap.add_argument("--port", type=int, default=9201)
    ap.add_argument("--data", type=Path, default=local_opensearch.CACHE / "secured-node")
    args = ap.parse_args(argv)
    if args.command == "stop":
        local_opensearch.stop(args.data)
        return 0
    password = os.environ.get("EXIM_SHIPPER_ADMIN_PASSWORD")
    if not password:
        raise SystemExit("secured_opensearch: set EXIM_SHIPPER_ADMIN_PASSWORD (the admin user's password)")
    node = start(args.port, args.data, admin_password=password)
    print(f"{node.url} ca={node.ca} admin_cert={node.admin_cert} admin_key={node.admin_key}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
