"""A local HTTP file server with failure knobs, for the download tests (127.0.0.1 only)."""

from __future__ import annotations

import http.server
import re
import threading
from pathlib import Path


class FileServer:
    """A threaded HTTP server over a folder, recording requests, with failure knobs.

    Honours ``Range: bytes=<n>-`` (206, or 416 past the end) unless told not to.
    """

    def __init__(self, root: Path):
        self.root = root
        self.requests: list[str] = []
        self.ranges: list[str | None] = []  # each request's Range header
        self.fail_first: dict[str, int] = {}  # path -> number of 503s before serving (HEAD too)
        self.fail_status: dict[str, int] = {}  # path -> the status of those failures, not 503
        self.retry_after: dict[str, str] = {}  # path -> Retry-After of those 503s
        self.no_length: set[str] = set()  # paths sent without Content-Length
        self.no_range: set[str] = set()  # paths whose Range header is ignored (200, whole file)
        self.cut_once: dict[str, int] = {}  # path -> close after this many body bytes, once
        self.cut_every: dict[str, int] = {}  # path -> close after this many body bytes, always
        self.page_for_range: dict[str, str] = {}  # path -> type of a 200 page answering Range
        self.html_no_length: set[str] = set()  # paths answered by a 200 page without a length
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_GET(self):  # noqa: N802 - http.server's naming
                from urllib.parse import unquote

                path = unquote(self.path.split("?", 1)[0]).lstrip("/")
                server.requests.append(path)
                server.ranges.append(self.headers.get("Range"))
                file = server.root / path
                if self._failed(path):
                    return
                if not file.is_file():
                    self.send_error(404, "not found")
                    return
                data = file.read_bytes()
                if path in server.html_no_length or (
                    path in server.page_for_range and self.headers.get("Range")
                ):
                    page = b"<html><body>Service temporarily unavailable</body></html>"
                    self.send_response(200)  # as some proxies and gateways do
                    kind = server.page_for_range.get(path, "text/html; charset=utf-8")
                    self.send_header("Content-Type", kind)
                    if path in server.html_no_length:
                        self.send_header("Connection", "close")
                        self.close_connection = True
                    else:
                        self.send_header("Content-Length", str(len(page)))
                    self.end_headers()
                    self.wfile.write(page)
                    return
                if path in server.no_length:
                    cut = server.cut_once.pop(path, None)
                    self.send_response(200)
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(data if cut is None else data[:cut])
                    self.close_connection = True
                    return
                start = self._range_start(path)
                if start is not None and start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = data[start or 0 :]
                self.send_response(200 if start is None else 206)
                if start is not None:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                cut = server.cut_once.pop(path, server.cut_every.get(path))
                self.wfile.write(body if cut is None else body[:cut])
                self.close_connection = cut is not None  # the client sees a short body

            def do_HEAD(self):  # noqa: N802 - the size of a file, as a server tells it
                from urllib.parse import unquote

                path = unquote(self.path.split("?", 1)[0]).lstrip("/")
                if self._failed(path):
                    return
                file = server.root / path
                if not file.is_file():
                    self.send_error(404, "not found")
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(file.stat().st_size))
                self.end_headers()

            def _failed(self, path: str) -> bool:
                """Answer one of ``fail_first``'s failures, if any are left for ``path``."""
                if server.fail_first.get(path, 0) <= 0:
                    return False
                server.fail_first[path] -= 1
                status = server.fail_status.get(path, 503)
                self.send_response(status, "busy" if status == 503 else "failed")
                if path in server.retry_after:
                    self.send_header("Retry-After", server.retry_after[path])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return True

            def _range_start(self, path: str) -> int | None:
                match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
                return None if match is None or path in server.no_range else int(match[1])

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def put(self, name: str, data: bytes) -> str:
        target = self.root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        return f"{self.url}/{name}?versionId=test"


def quiet(**kwargs):
    """Downloader options for tests: no progress bars, short waits."""
    return {"progress": False, "backoff": 0.01, "timeout": 5, **kwargs}
