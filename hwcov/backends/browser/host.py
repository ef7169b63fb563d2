"""A page host: one Chromium page in a fresh interpreter (`python -m hwcov.backends.browser.host`), driven over a
pipe by the process that holds the models, for work that interleaves torch and the page (the modes' shapes and
decode steps: hwcov.backends.browser.modes).

Why a spawned interpreter, not the forked jobs the sweep uses: work that runs torch in a child forked from a process
whose torch thread pool already ran deadlocks in OpenMP (seen: a dynamic-shape reference hung in layer_norm). Here the
torch work stays in the caller and the host runs no torch at all; it only opens graphs as sessions and runs feeds.
Isolation is the jobs' own: the host leads its own process group, dies with its caller (orphan watch), and close()
kills it with Chromium's groups whatever state they are in; each request has a deadline.

Protocol: one JSON object per line each way. Requests {"op": "create", "spec": {...}} | {"op": "run", "key": k,
"feeds": [...]} | {"op": "quit"}; replies {"ok": value} or {"error": text}. Tensors travel as tensors.encode makes
them.
"""
from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import tempfile
import time

from hwcov.backends.browser import jobs

START_TIMEOUT_S = 90.0


class PageHostError(RuntimeError):
    pass


class PageHost:
    """The caller's side: start() spawns the host; create/run send requests; close() ends it (a context manager)."""

    def __init__(self, hardware: str, threads: int, timeout_s: float = jobs.JOB_TIMEOUT_S):
        self.hardware, self.threads, self.timeout_s = hardware, threads, timeout_s
        self.process: subprocess.Popen | None = None
        self._buffer = b""
        self._log = None
        self.broken = ""  # why the host was ended (a request timed out): later requests fail at once

    def __enter__(self):
        self._log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hwcov.backends.browser.host", self.hardware, str(self.threads), str(os.getpid())],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, start_new_session=True)
        self._reply(START_TIMEOUT_S)  # the page is ready
        return self

    def __exit__(self, *exc):
        self.close()
        self._log.close()

    def close(self) -> None:
        if self.process is None:
            return
        try:
            self.process.stdin.write(b'{"op": "quit"}\n')
            self.process.stdin.flush()
            self.process.wait(timeout=10)
        except (OSError, ValueError, subprocess.TimeoutExpired):
            pass
        jobs.kill_groups({self.process.pid} | jobs.groups_below(self.process.pid))
        self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout):
            pipe.close()
        self.process = None

    def create(self, spec: dict) -> dict:
        return self._request({"op": "create", "spec": spec})

    def run(self, key: str, feeds: list) -> dict:
        return self._request({"op": "run", "key": key, "feeds": feeds})

    def _request(self, message: dict):
        if self.broken:
            raise PageHostError(self.broken)
        try:
            self.process.stdin.write(json.dumps(message).encode() + b"\n")
            self.process.stdin.flush()
        except (OSError, ValueError) as exc:
            raise PageHostError(f"page host gone ({type(exc).__name__}){self._stderr_tail()}") from None
        return self._reply(self.timeout_s)

    def _reply(self, timeout_s: float):
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                self.broken = f"browser job timed out after {timeout_s:.0f} s (page hung or crashed; killed)"
                self.close()
                raise PageHostError(self.broken)
            ready, _, _ = select.select([self.process.stdout], [], [], min(left, 1.0))
            if ready:
                chunk = os.read(self.process.stdout.fileno(), 1 << 20)
                if not chunk:
                    raise PageHostError(f"browser job died (exit {self.process.poll()}) without a result"
                                        f"{self._stderr_tail()}")
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        reply = json.loads(line)
        if "error" in reply:
            raise PageHostError(reply["error"])
        return reply["ok"]

    def _stderr_tail(self) -> str:
        self._log.seek(0)
        tail = self._log.read().decode(errors="replace").strip()[-600:]
        return f": {tail}" if tail else ""


def serve(hardware: str, threads: int, parent: int) -> None:
    """The host's side: a page on the hardware's bundle; requests from stdin, replies on the original stdout (what
    anything else prints goes to stderr)."""
    from playwright.sync_api import sync_playwright

    from hwcov.backends.browser.pages import PROVIDERS
    from hwcov.backends.browser.server import PageServer

    replies = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    jobs.reap_when_orphaned(parent, float("inf"))
    jobs.lift_address_space_cap()

    def reply(**message) -> None:
        replies.write(json.dumps(message) + "\n")
        replies.flush()

    console: list = []
    with PageServer() as server, sync_playwright() as p:
        browser = jobs.launch(p)
        try:
            page = jobs.open_page(browser, server, PROVIDERS[hardware][1], threads, console)
            reply(ok=f"Chromium {browser.version}")
            for line in sys.stdin:
                request = json.loads(line)
                if request["op"] == "quit":
                    break
                try:
                    reply(ok=_handle(page, server, request))
                except Exception as exc:  # noqa: BLE001 - the page's own words, plus what it logged
                    tail = " | ".join(console)[-800:]
                    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                    reply(error=first + (f" [console: {tail}]" if tail else ""))
                console.clear()
        finally:
            browser.close()


def _handle(page, server, request: dict):
    from pathlib import Path

    if request["op"] == "create":
        spec = dict(request["spec"])
        model = Path(spec["model"])
        spec["model"] = server.add(model)
        spec["externalData"] = [{"path": name, "data": server.add(model.parent / name)}
                                for name in spec.get("externalData", [])]
        return page.evaluate("spec => window.hwcov.create(spec)", spec)
    if request["op"] == "run":
        return page.evaluate("([f, n, b, k]) => window.hwcov.run(f, n, b, k)", [request["feeds"], 1, 0, request["key"]])
    raise ValueError(f"unknown request {request['op']!r}")


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
