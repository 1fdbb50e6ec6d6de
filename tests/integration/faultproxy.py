"""An HTTP proxy in front of the real node that injects faults: per-item 429/503, 503s, dropped connections."""

from __future__ import annotations

import http.client
import random
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import orjson


class FaultProxy:
    """Forwards to `upstream`; on `_bulk`, withholds a share of items and answers them 429/503 itself."""

    def __init__(
        self,
        upstream: str,
        *,
        item_fault: float,
        request_503: float,
        drop: float,
        lost: float = 0.0,
        seed: int = 1,
    ) -> None:
        """`lost`: the share of bulk requests forwarded (so the node applies them) whose answer is
        dropped with the connection, as a timeout after the node did the work looks to the client."""
        up = urlsplit(upstream)
        self.host, self.port = up.hostname or "127.0.0.1", up.port or 9200
        self.item_fault, self.request_503, self.drop, self.lost = item_fault, request_503, drop, lost
        self.rnd = random.Random(seed)
        self.lock = threading.Lock()
        self.stats = {"items_faulted": 0, "requests_503": 0, "dropped": 0, "bulk_requests": 0, "lost": 0}
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length", 0) or 0)
                body = self.rfile.read(length) if length else b""
                if self.headers.get("Content-Encoding") == "gzip":
                    import gzip

                    body = gzip.decompress(body)
                proxy.serve(self, body)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FaultProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _roll(self, p: float) -> bool:
        with self.lock:
            return self.rnd.random() < p

    def serve(self, h: BaseHTTPRequestHandler, body: bytes) -> None:
        is_bulk = "_bulk" in h.path
        if is_bulk and self._roll(self.drop):
            self.stats["dropped"] += 1
            h.close_connection = True
            h.connection.close()  # no answer at all: the client sees a broken connection
            return
        if is_bulk and self._roll(self.request_503):
            self.stats["requests_503"] += 1
            self._reply(h, 503, b'{"error":{"type":"unavailable","reason":"injected"},"status":503}')
            return
        faulted: dict[int, int] = {}
        if is_bulk:
            self.stats["bulk_requests"] += 1
            lines = body.split(b"\n")
            pairs = [(lines[i], lines[i + 1]) for i in range(0, len(lines) - 1, 2)]
            kept = []
            for n, pair in enumerate(pairs):
                if self._roll(self.item_fault):
                    faulted[n] = 429 if self._roll(0.5) else 503
                else:
                    kept.append(pair)
            self.stats["items_faulted"] += len(faulted)
            body = b"".join(a + b"\n" + b + b"\n" for a, b in kept)
            if not kept:
                self._reply(
                    h,
                    200,
                    orjson.dumps(
                        {"errors": True, "items": [self._fault(faulted[n]) for n in sorted(faulted)]}
                    ),
                )
                return
        status, data = self._forward(h, body)
        if is_bulk and self._roll(self.lost):
            self.stats["lost"] += 1
            h.close_connection = True
            h.connection.close()  # applied by the node, but the client never hears so
            return
        if faulted and status == 200:
            real = iter(orjson.loads(data)["items"])
            items = [
                self._fault(faulted[n]) if n in faulted else next(real)
                for n in range(len(faulted) + len(kept))
            ]
            data = orjson.dumps({"errors": True, "items": items})
        self._reply(h, status, data)

    @staticmethod
    def _fault(status: int) -> dict[str, Any]:
        return {
            "create": {
                "status": status,
                "error": {"type": "es_rejected_execution_exception", "reason": "injected"},
            }
        }

    def _forward(self, h: BaseHTTPRequestHandler, body: bytes) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        # Full items are needed to splice the injected faults back in place: drop filter_path.
        parts = urlsplit(h.path)
        query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k != "filter_path"])
        path = parts.path + (f"?{query}" if query else "")
        conn.request(h.command, path, body=body or None, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        return resp.status, data

    @staticmethod
    def _reply(h: BaseHTTPRequestHandler, status: int, data: bytes) -> None:
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(data)
