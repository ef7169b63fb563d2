"""A case's page on a page host (hwcov.backends.browser.host): the runner worker's host, kept in its slot between
cases, or, outside a runner, a private one started for this page and ended with it.

Every request has a deadline. Past it the case hangs up (the host then kills its Chromium, and starts a fresh one
for the next case) and every later request of this page fails at once, with the words jobs.job_status reads as a
timeout. A host that doesn't answer the page's opening is killed with its Chromium and a new one started once.
"""
from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hwcov.backends.browser import jobs
from hwcov.backends.browser.host import LOG, PIDFILE, SOCKET
from hwcov.backends.browser.placements import from_wire
from hwcov.core.limits import worker_slot

START_TIMEOUT_S = 90.0  # a host's start (interpreter, Playwright, Chromium) and a page's opening
_STARTED: list = []  # hosts this process spawned and left running in a slot (kept so Popen never warns of them)


class PageHostError(RuntimeError):
    pass


class PageHost:
    """with PageHost(hardware, threads) as page: page.create / run / session / bench; `browser` names Chromium."""

    def __init__(self, hardware: str, threads: int, timeout_s: float = jobs.JOB_TIMEOUT_S, log: str = "warning"):
        self.hardware, self.threads, self.timeout_s, self.log = hardware, threads, timeout_s, log
        self.folder: Path | None = None
        self.private = False
        self.conn: socket.socket | None = None
        self.browser = ""
        self.opened_ahead = False  # the host had this page open, its runtime compiled, before it was asked (host.Spare)
        self._buffer = b""
        self.broken = ""  # why this page ended early (a request timed out): later requests fail at once

    def __enter__(self):
        slot = worker_slot()
        self.private = slot is None
        self.folder = Path(tempfile.mkdtemp(prefix="hwcov-page-")) if self.private else slot
        opening = {"op": "open", "hardware": self.hardware, "threads": self.threads, "log": self.log}
        for attempt in (1, 2):
            try:
                self.conn = self._connect()
                self._send(opening)
                opened = self._reply(START_TIMEOUT_S)
                self.browser, self.opened_ahead = opened["browser"], opened["ahead"]
                return self
            except PageHostError as exc:
                host_failed = self.broken or "browser job died" in str(exc)  # else: the page's own error
                self._hang_up()
                if host_failed:
                    self.kill_host()  # hung or dead: a fresh one on the second attempt
                if attempt == 2 or not host_failed:
                    self.close()
                    raise
                self.broken = ""
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def host_pid(self) -> int | None:
        """The pid of this folder's host, if it runs (a pid file outliving its host may name another process)."""
        try:
            pid = int((self.folder / PIDFILE).read_text())
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                command = fh.read().split(b"\0")
        except (OSError, ValueError, TypeError):
            return None
        return pid if b"hwcov.backends.browser.host" in command and str(self.folder).encode() in command else None

    def close(self) -> None:
        self._hang_up()
        if self.private and self.folder is not None:
            self.kill_host()
            import shutil

            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def kill_host(self) -> None:
        """The host and its Chromium, whatever state they are in; returns once they are gone."""
        pid = self.host_pid
        if pid:
            jobs.kill_groups({pid} | jobs.groups_below(pid), wait_s=10)
            (self.folder / PIDFILE).unlink(missing_ok=True)
        for process in [p for p in _STARTED if p.poll() is not None]:
            _STARTED.remove(process)  # reaped

    # -- requests ------------------------------------------------------------------------------------
    def create(self, spec: dict) -> dict:
        return self._request({"op": "create", "spec": spec})

    def run(self, key: str, feeds: list) -> dict:
        return self._request({"op": "run", "key": key, "feeds": feeds})

    def session(self, *args) -> dict:
        """pages.session_job on this page: (hardware, model, external, feeds, threads)."""
        return self._job("session", args)

    def bench(self, *args) -> dict:
        """pages.bench_job on this page."""
        return self._job("bench", args)

    def _job(self, op: str, args) -> dict:
        job = self._request({"op": op, "args": [str(a) if isinstance(a, Path) else a for a in args]})
        job["placements"] = from_wire(job["placements"])
        return job

    def _request(self, message: dict):
        if self.broken:
            raise PageHostError(self.broken)
        self._send(message)
        return self._reply(self.timeout_s)

    # -- the connection --------------------------------------------------------------------------------
    def _connect(self) -> socket.socket:
        path = self.folder / SOCKET
        conn = _try_connect(path)
        if conn is not None:
            return conn
        self.kill_host()  # a host whose socket refuses is dead or dying
        log = open(self.folder / LOG, "ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "hwcov.backends.browser.host", str(self.folder),
             str(os.getpid() if self.private else 0)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        log.close()
        _STARTED.append(process)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            conn = _try_connect(path) if (self.folder / PIDFILE).exists() else None
            if conn is not None:
                return conn
            if process.poll() is not None:
                raise PageHostError(f"browser job died (page host exit {process.returncode}) without a result"
                                    f"{self._log_tail()}")
            time.sleep(0.05)
        raise PageHostError(f"browser job timed out after {START_TIMEOUT_S:.0f} s (page host didn't start; killed)")

    def _send(self, message: dict) -> None:
        try:
            self.conn.sendall(json.dumps(message).encode() + b"\n")
        except (OSError, AttributeError) as exc:
            raise PageHostError(f"browser job died (page host gone: {type(exc).__name__}){self._log_tail()}") from None

    def _reply(self, timeout_s: float):
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                self.broken = f"browser job timed out after {timeout_s:.0f} s (page hung or crashed; killed)"
                self._hang_up()  # the host kills its Chromium and starts afresh for the next case
                raise PageHostError(self.broken)
            ready, _, _ = select.select([self.conn], [], [], min(left, 1.0))
            if ready:
                chunk = self.conn.recv(1 << 20)
                if not chunk:
                    self._hang_up()
                    raise PageHostError(f"browser job died (page host hung up) without a result{self._log_tail()}")
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        reply = json.loads(line)
        if "error" in reply:
            raise PageHostError(reply["error"])
        return reply["ok"]

    def _hang_up(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        self._buffer = b""

    def _log_tail(self) -> str:
        try:
            tail = (self.folder / LOG).read_bytes().decode(errors="replace").strip()[-600:]
        except (OSError, TypeError):
            return ""
        return f": {tail}" if tail else ""


def _try_connect(path: Path) -> socket.socket | None:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(str(path))
        return conn
    except OSError:
        conn.close()
        return None
