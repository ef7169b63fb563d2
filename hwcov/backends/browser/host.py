"""A page host: one Chromium, kept between cases, in a fresh interpreter (`python -m
hwcov.backends.browser.host FOLDER OWNER`) that listens on FOLDER/browser.sock; each connection is one case's page.

Why: starting Playwright and Chromium costs 3-4 s, more than many cases' whole run on wasm. A runner worker's slot
(hwcov.core.limits.worker_slot: a folder that outlives its cases) keeps one host, so its browser serves every case
of that worker; outside a runner a case starts a private host and ends it (hwcov.backends.browser.client).
Why a spawned interpreter, not a fork: it runs no torch and holds none of a case's state (a fork of a process whose
thread pools ran can deadlock), and it outlives the case that started it.

Isolation, per case: a connection gets a browser context and page of its own, closed when the connection ends, and
the files it registered with the page server are forgotten. A case that hangs up mid-request (killed at its timeout,
or its own deadline passed) gets Chromium killed, which ends the request; a browser that crashed, was killed or has
served RECYCLE_AFTER pages is started afresh for the next connection. Pipelined: once a case's page closes, the host
opens the next one (a Spare: fresh context and page, onnxruntime-web's WebAssembly compiled by a one-node warm-up
graph) while the next case forks and builds its model; a case asking for another page gets one opened then. The host
ends when its folder goes (the run ended), when its owner dies (a private host's case), or after IDLE_EXIT_S without a
connection.

Protocol: one JSON object per line each way. The first request opens the page: {"op": "open", "hardware": h,
"threads": n, "log": level}; then {"op": "create", "spec": {...}} | {"op": "run", "key": k, "feeds": [...]} |
{"op": "session" | "bench", "args": [...]} (hwcov.backends.browser.pages); replies {"ok": value} or {"error": text}.
"""
from __future__ import annotations

import json
import os
import select
import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from hwcov.backends.browser import jobs

SOCKET, PIDFILE, LOG = "browser.sock", "host.pid", "host.log"
RECYCLE_AFTER = 50  # pages one Chromium serves before a fresh one (a long-lived renderer's memory only grows)
IDLE_EXIT_S = 600.0  # without a connection: a run killed before it could remove its folder leaves nothing running


def serve(folder: Path, owner: int) -> None:
    """Accept one case's page at a time until the folder goes, the owner dies (0: none) or the host idles."""
    from playwright.sync_api import sync_playwright

    from hwcov.backends.browser.server import PageServer

    jobs.lift_address_space_cap()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    path = folder / SOCKET
    path.unlink(missing_ok=True)  # a dead host's
    listener.bind(str(path))
    listener.listen(4)
    listener.settimeout(1.0)
    (folder / PIDFILE).write_text(str(os.getpid()))
    browser, served, last, spare = None, 0, time.monotonic(), None
    with PageServer() as server, sync_playwright() as playwright:
        try:
            while folder.is_dir() and (not owner or os.getppid() == owner) and time.monotonic() - last < IDLE_EXIT_S:
                try:
                    conn, _ = listener.accept()
                except (socket.timeout, TimeoutError):
                    continue
                if browser is None or not browser.is_connected() or served >= RECYCLE_AFTER:
                    browser, served, spare = _relaunch(playwright, browser), 0, None
                served += 1
                with conn:
                    opening = _serve_page(conn, browser, server, spare)
                server.files.clear()
                spare = _spare(browser, server, opening) if opening and served < RECYCLE_AFTER else None
                last = time.monotonic()
        finally:
            listener.close()
            if browser is not None and browser.is_connected():
                browser.close()
            _kill_browsers()


def _relaunch(playwright, old):
    if old is not None:
        try:
            old.close()
        except Exception:  # noqa: BLE001 - a crashed browser: whatever is left of it goes below
            pass
        _kill_browsers()
    return jobs.launch(playwright)


def _kill_browsers() -> None:
    """Every process group below this host but its own: Chromium's (Playwright starts it detached)."""
    jobs.kill_groups(jobs.groups_below(os.getpid()) - {os.getpgid(0)})


@dataclass
class Spare:
    """A page opened, and its wasm runtime compiled, before any case asked for it (_spare): the next case's page when
    it asks for the same page (hardware, threads, log level), else closed unused."""
    opening: tuple
    context: object
    page: object
    console: list


def _opening_key(opening: dict) -> tuple:
    return opening["hardware"], int(opening["threads"]), opening.get("log", "warning")


def _open(browser, server, key: tuple) -> tuple:
    """(context, page, console) of a fresh page for `key` in a context of its own."""
    from hwcov.backends.browser.pages import PROVIDERS

    hardware, threads, log = key
    console: list = []
    context = browser.new_context()
    try:
        return context, jobs.open_page(context, server, PROVIDERS[hardware][1], threads, console, log=log), console
    except BaseException:
        _close(context)
        raise


def _close(context) -> None:
    try:
        context.close()
    except Exception:  # noqa: BLE001, S110 - a crashed page's context; the next connection relaunches
        pass


def _spare(browser, server, key: tuple) -> Spare | None:
    """The next case's page, made while its worker forks and builds its model: a fresh page (context of its own) that
    has run hwcov's one-node warm-up graph on the wasm provider (window.hwcov.warm), so onnxruntime-web's WebAssembly
    module is compiled and instantiated before the case's own session (~0.5 s of a case's first session create, and
    ~0.3 s of opening the page, measured here). It never served a case; its warm-up's console lines are dropped. The
    warm-up is on wasm whatever the hardware: a webgpu page's adapter and device stay the case's own evidence."""
    if not browser.is_connected():
        return None
    try:
        context, page, console = _open(browser, server, key)
    except Exception:  # noqa: BLE001 - no spare: the next case opens its page itself and says why it can't
        return None
    try:
        page.evaluate("() => window.hwcov.warm()")
    except Exception:  # noqa: BLE001 - a page that can't warm up is no page to hand a case
        _close(context)
        return None
    console.clear()
    return Spare(key, context, page, console)


def _serve_page(conn: socket.socket, browser, server, spare: Spare | None) -> tuple | None:
    """One case: its page in a context of its own (the spare when it fits, else opened now), requests until it hangs
    up. Returns the page's opening key (for the next spare), None when no page opened; the spare is used or closed."""
    from hwcov.backends.browser.pages import Tab

    lines = conn.makefile("rb")

    def reply(**message) -> None:
        conn.sendall(json.dumps(message).encode() + b"\n")

    context = spare.context if spare else None
    try:
        opening = json.loads(lines.readline() or b"{}")
        if opening.get("op") != "open":
            return None
        try:
            key = _opening_key(opening)
            ahead = spare is not None and spare.opening == key and not spare.page.is_closed()
            if ahead:
                page, console = spare.page, spare.console
            else:
                if spare is not None:
                    _close(spare.context)
                context = None
                context, page, console = _open(browser, server, key)
        except Exception as exc:  # noqa: BLE001 - the page didn't open (a crashed browser is replaced next time)
            reply(error=f"the page didn't open: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
            return None
        tab = Tab(page, server, console, f"Chromium {browser.version}")
        reply(ok={"browser": tab.browser, "ahead": ahead})
        for line in lines:
            request = json.loads(line)
            with _HangupWatch(conn):  # ended before the reply: a case that has its answer may hang up
                try:
                    answer = {"ok": _handle(tab, request)}
                except Exception as exc:  # noqa: BLE001 - the page's own words, plus what it logged
                    tail = " | ".join(c for c in console if "[V:" not in c)[-1500:]
                    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                    answer = {"error": first + (f" [console: {tail}]" if tail else "")}
            reply(**answer)
            console.clear()
        return key
    except (OSError, ValueError) as exc:  # the case hung up, or sent what isn't a request: its page ends
        print(f"hwcov page host: connection ended: {type(exc).__name__}: {exc}", file=sys.stderr)
        return None
    finally:
        if context is not None and browser.is_connected():
            _close(context)


class _HangupWatch:
    """While a request runs: if the case hangs up (killed, or past its own deadline), kill Chromium so the request
    ends rather than holding the host for the next case. A case sends nothing while it waits, so a readable socket
    means it hung up. Ended through a pipe, so a request pays no polling interval."""

    def __init__(self, conn: socket.socket):
        self.conn = conn
        self.wake_r, self.wake_w = os.pipe()

    def __enter__(self):
        self.thread = threading.Thread(target=self._watch, name="hwcov-page-hangup", daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        os.write(self.wake_w, b"x")
        self.thread.join()
        os.close(self.wake_r)
        os.close(self.wake_w)

    def _watch(self) -> None:
        while True:
            ready, _, _ = select.select([self.conn, self.wake_r], [], [])
            if self.wake_r in ready:
                return
            try:
                gone = self.conn.recv(1, socket.MSG_PEEK) == b""
            except OSError:
                gone = True
            if gone:
                _kill_browsers()
                return
            time.sleep(0.05)  # a byte the case shouldn't have sent: it is read with the next request


def _handle(tab, request: dict):
    from hwcov.backends.browser import pages

    op = request["op"]
    if op == "create":
        spec = request["spec"]
        spec = {**spec, **tab.served(spec["model"], spec.get("externalData", []))}
        return tab.page.evaluate("spec => window.hwcov.create(spec)", spec)
    if op == "run":
        return tab.page.evaluate("([f, n, b, k]) => window.hwcov.run(f, n, b, k)", [request["feeds"], 1, 0, request["key"]])
    if op == "session":
        return pages.session_job(tab, *request["args"])
    if op == "bench":
        return pages.bench_job(tab, *request["args"])
    raise ValueError(f"unknown request {op!r}")


if __name__ == "__main__":
    serve(Path(sys.argv[1]), int(sys.argv[2]))
