"""A TLS-terminating nginx with basic auth in front of the real node, and the private CA it is signed by.

nginx comes from Debian's own package: `apt-get download` (or the pool URL when apt has no lists), unpacked
with `dpkg -x` into the cache beside the OpenSearch distribution — nothing is installed on the machine.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import local_opensearch

NGINX_DEB = "nginx_1.22.1-9+deb12u9_amd64.deb"  # bookworm's; the fallback when apt cannot fetch
NGINX_POOL = f"http://deb.debian.org/debian/pool/main/n/nginx/{NGINX_DEB}"


def nginx_binary() -> Path:
    """Debian's nginx, unpacked under the cache on first use; raises RuntimeError when it cannot be had."""
    home = local_opensearch.CACHE / "nginx"
    binary = home / "usr" / "sbin" / "nginx"
    if binary.exists():
        return binary
    if shutil.which("dpkg") is None:
        raise RuntimeError("dpkg is not available to unpack Debian's nginx")
    work = Path(tempfile.mkdtemp(prefix="exim-shipper-nginx-"))
    try:
        got = subprocess.run(
            ["apt-get", "download", "nginx"], cwd=work, capture_output=True, text=True, check=False
        )
        debs = list(work.glob("nginx_*.deb"))
        if got.returncode != 0 or not debs:
            urllib.request.urlretrieve(NGINX_POOL, work / NGINX_DEB)
            debs = [work / NGINX_DEB]
        tmp = work / "root"
        subprocess.run(["dpkg", "-x", str(debs[0]), str(tmp)], check=True)
        home.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(home, ignore_errors=True)
        shutil.move(str(tmp), home)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return binary


@dataclass
class Pki:
    ca: Path
    cert: Path
    key: Path
    other_ca: Path  # a CA that did not sign the server: verification against it must fail


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_pki(folder: Path) -> Pki:
    """A private CA, a server certificate for 127.0.0.1/localhost signed by it, and an unrelated CA."""
    for name in ("ca", "other"):
        _openssl(
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", f"/CN=exim-shipper test {name} CA",
            "-keyout", f"{name}.key", "-out", f"{name}.pem", cwd=folder,
        )  # fmt: skip
    _openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
        "-keyout", "server.key", "-out", "server.csr", cwd=folder,
    )  # fmt: skip
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-days", "2", "-extfile", "san.ext", "-out", "server.pem", cwd=folder,
    )  # fmt: skip
    return Pki(folder / "ca.pem", folder / "server.pem", folder / "server.key", folder / "other.pem")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


class TlsProxy:
    """nginx on 127.0.0.1:<port> with TLS (certificate from `pki`) and basic auth, proxying to `upstream`."""

    def __init__(self, upstream: str, folder: Path, user: str, password: str) -> None:
        self.folder = folder
        self.pki = make_pki(folder)
        self.port = _port()
        self.url = f"https://127.0.0.1:{self.port}"
        hashed = subprocess.run(
            ["openssl", "passwd", "-5", password], capture_output=True, text=True, check=True
        ).stdout.strip()
        (folder / "htpasswd").write_text(f"{user}:{hashed}\n")
        for sub in ("logs", "tmp"):
            (folder / sub).mkdir(exist_ok=True)
        # As root, workers would run as nobody, who cannot read a mkdtemp folder: keep them root (a test).
        user = "user root;" if os.geteuid() == 0 else ""
        # Every path nginx would otherwise take from Debian's /etc and /var layout is pointed here.
        (folder / "nginx.conf").write_text(f"""
{user}
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/logs/error.log;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {folder}/tmp/body;
  proxy_temp_path {folder}/tmp/proxy;
  fastcgi_temp_path {folder}/tmp/fastcgi;
  uwsgi_temp_path {folder}/tmp/uwsgi;
  scgi_temp_path {folder}/tmp/scgi;
  client_max_body_size 100m;
  server {{
    listen 127.0.0.1:{self.port} ssl;
    ssl_certificate {self.pki.cert};
    ssl_certificate_key {self.pki.key};
    auth_basic "opensearch";
    auth_basic_user_file {folder}/htpasswd;
    location / {{
      proxy_pass {upstream};
      proxy_set_header Authorization "";
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}
  }}
}}
""")
        binary = nginx_binary()
        self.proc = subprocess.Popen(
            [str(binary), "-p", str(folder), "-c", str(folder / "nginx.conf"), "-e", str(folder / "logs/start.log"),
             "-g", "daemon off;"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                # A configuration nginx cannot parse is reported before error_log is opened: in start.log.
                logs = [folder / "logs" / name for name in ("start.log", "error.log")]
                said = " ".join(p.read_text()[-500:] for p in logs if p.exists())
                raise RuntimeError(f"nginx exited: {said.strip()}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.1)
        raise RuntimeError("nginx did not listen within 15 s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def have_tools() -> str | None:
    """Why the TLS proxy cannot run here, or None."""
    if shutil.which("openssl") is None:
        return "openssl is not installed"
    if os.uname().machine not in ("x86_64", "amd64") and not (local_opensearch.CACHE / "nginx").exists():
        return "the pinned nginx package is amd64"
    return None
