"""The localhost server a page loads from: hwcov/web/ (the page), onnxruntime-web's dist/ files (no CDN) and
the registered model files, on 127.0.0.1 only, with the cross-origin isolation headers threaded wasm needs."""
from __future__ import annotations

import hashlib
import json
import mimetypes
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

WEB_DIR = Path(__file__).resolve().parent.parent.parent / "web"  # hwcov/web
ORT_DIST = WEB_DIR / "node_modules" / "onnxruntime-web" / "dist"


def ort_web_version() -> str:
    try:
        lock = json.loads((WEB_DIR / "package-lock.json").read_text())
        return lock["packages"]["node_modules/onnxruntime-web"]["version"]
    except (OSError, KeyError, ValueError) as exc:
        return f"unknown ({type(exc).__name__})"


class PageServer:
    """Serves the page, onnxruntime-web's dist/ and the files `add`ed, on 127.0.0.1 only, with the
    cross-origin isolation headers threaded wasm needs. A context manager: started and shut down cleanly."""

    def __init__(self, web_dir: Path = WEB_DIR, dist: Path = ORT_DIST):
        self.web_dir, self.dist, self.files = Path(web_dir), Path(dist), {}
        self.httpd: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None

    def add(self, path) -> str:
        """Serve `path` (and nothing beside it) at the returned URL path."""
        path = Path(path).resolve()
        url = f"/files/{hashlib.sha256(str(path).encode()).hexdigest()[:12]}/{path.name}"
        self.files[url] = path
        return url

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def resolve(self, url_path: str) -> Path | None:
        if url_path in ("/", "/index.html"):
            return self.web_dir / "index.html"
        if url_path == "/runner.js":
            return self.web_dir / "runner.js"
        if url_path.startswith("/ort/"):
            name = url_path[len("/ort/"):]
            if "/" not in name and not name.startswith(".") and (self.dist / name).is_file():
                return self.dist / name
        return self.files.get(url_path)

    def __enter__(self) -> "PageServer":
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                path = server.resolve(urlsplit(self.path).path)
                if path is None or not path.is_file():
                    self.send_error(404)
                    return
                kind = {".mjs": "text/javascript", ".js": "text/javascript", ".wasm": "application/wasm",
                        ".html": "text/html; charset=utf-8"}.get(path.suffix) or \
                    mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(path.stat().st_size))
                self.send_header("Cross-Origin-Opener-Policy", "same-origin")
                self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
                self.send_header("Cross-Origin-Resource-Policy", "same-origin")
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                try:
                    with open(path, "rb") as fh:
                        shutil.copyfileobj(fh, self.wfile)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args):  # quiet
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="hwcov-page-server", daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.thread.join(timeout=10)
            self.httpd = self.thread = None
