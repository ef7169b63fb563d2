"""The page host (hwcov.backends.browser.host, .client) for real: a spawned interpreter with one Chromium, a page per
connection. A runner worker's host serves every case of that worker with one browser, each case on a fresh page; a
request past its deadline ends that page's Chromium and fails what follows at once; a private host whose caller dies
goes with its browser, and a worker's host goes when its run ends."""
import os
import time

import pytest

from hwcov.backends.browser import client as host
from hwcov.backends.browser import jobs
from tests.backends.test_backend_browser import assert_reaped_with_its_browser, live_in_groups
from tests.conftest import needs_browser

pytestmark = needs_browser()


def _tiny_graph(tmp_path):
    """y = x + 1: a real ONNX file for a session."""
    import onnx
    from onnx import TensorProto, helper

    one = helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0])
    graph = helper.make_graph([helper.make_node("Add", ["x", "one"], ["y"])], "add",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n"])], [one])
    path = tmp_path / "add.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))
    return path


def _endless_graph(tmp_path):
    """y = x + 1, 2**62 times (an ONNX Loop): a session whose run never ends, a hung page on demand."""
    import onnx
    from onnx import TensorProto, helper

    one = helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0])
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]), helper.make_node("Add", ["x_in", "one"], ["x_out"])],
        "body", [helper.make_tensor_value_info("i", TensorProto.INT64, []),
                 helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
                 helper.make_tensor_value_info("x_in", TensorProto.FLOAT, ["n"])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("x_out", TensorProto.FLOAT, ["n"])], [one])
    trips = helper.make_tensor("trips", TensorProto.INT64, [], [2**62])
    keep = helper.make_tensor("keep", TensorProto.BOOL, [], [True])
    graph = helper.make_graph([helper.make_node("Loop", ["trips", "keep", "x"], ["y"], body=body)], "endless",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n"])], [trips, keep])
    path = tmp_path / "endless.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))
    return path


def test_a_host_runs_sessions_by_key_and_ends_with_its_browser(tmp_path):
    import torch

    from hwcov.backends.browser.tensors import decode, encode

    model = _tiny_graph(tmp_path)
    with host.PageHost("wasm", 1) as page:
        spec = {"model": str(model), "provider": "wasm", "severity": 3, "externalData": []}
        page.create({**spec, "key": "a"})
        page.create({**spec, "key": "b"})
        for key, n in (("a", 3), ("b", 5)):  # two sessions, each fed its own shape
            out, = page.run(key, [encode("x", torch.arange(n, dtype=torch.float32))])["outputs"]
            assert decode(out).tolist() == [float(i + 1) for i in range(n)]
        with pytest.raises(host.PageHostError, match="no session 'c'"):
            page.run("c", [encode("x", torch.ones(1))])
        groups = {page.host_pid} | jobs.groups_below(page.host_pid)
        assert len(groups) >= 2 and live_in_groups(groups)  # the host's group and Chromium's
    assert not live_in_groups(groups)  # a private host ends with its page


def test_a_request_past_its_deadline_ends_its_chromium_and_fails_what_follows(tmp_path):
    import torch

    from hwcov.backends.browser.tensors import encode

    with host.PageHost("wasm", 1) as page:
        browser_groups = jobs.groups_below(page.host_pid) - {page.host_pid}
        page.create({"model": str(_endless_graph(tmp_path)), "provider": "wasm", "key": "a", "externalData": []})
        page.timeout_s = 2.0
        with pytest.raises(host.PageHostError, match="timed out after 2 s"):  # the page hangs in the run
            page.run("a", [encode("x", torch.ones(1))])
        assert _gone(browser_groups)  # the host killed the Chromium of the page that hung up
        started = time.monotonic()
        with pytest.raises(host.PageHostError, match="timed out"):
            page.run("a", [encode("x", torch.ones(1))])
        assert time.monotonic() - started < 1


def _gone(groups, timeout_s: float = 20) -> bool:
    deadline = time.monotonic() + timeout_s
    while live_in_groups(groups) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not live_in_groups(groups)


def test_a_workers_cases_share_one_chromium_each_on_a_fresh_page(tmp_path, monkeypatch):
    """In a runner worker's slot the host outlives its cases: the next case finds it, its Chromium already up, and a
    page with nothing of the last case's (its sessions are gone); a case that hangs up mid-request costs the next
    case only a fresh Chromium; the run's end (the slot removed) ends the host and its browser."""
    import torch

    from hwcov.backends.browser.tensors import decode, encode
    from hwcov.core.limits import WORKER_SLOT_ENV

    slot = tmp_path / "slot-0"
    slot.mkdir()
    monkeypatch.setenv(WORKER_SLOT_ENV, str(slot))
    spec = {"model": str(_tiny_graph(tmp_path)), "provider": "wasm", "severity": 3, "externalData": [], "key": "a"}
    with host.PageHost("wasm", 1) as first:
        assert not first.opened_ahead  # the host's first page: nothing to open it ahead of
        first.create(spec)
        pid, chromium = first.host_pid, jobs.groups_below(first.host_pid) - {first.host_pid}
    with host.PageHost("wasm", 1) as second:
        assert second.host_pid == pid and jobs.groups_below(pid) - {pid} == chromium and live_in_groups(chromium)
        assert second.opened_ahead  # the spare, opened and warmed while no case held the host
        with pytest.raises(host.PageHostError, match="no session 'a'"):  # a fresh page
            second.run("a", [encode("x", torch.ones(1))])
        second.create({**spec, "model": str(_endless_graph(tmp_path))})
        second.timeout_s = 2.0
        with pytest.raises(host.PageHostError, match="timed out"):  # the page hangs; the case hangs up
            second.run("a", [encode("x", torch.ones(1))])
    assert _gone(chromium)
    with host.PageHost("wasm", 1) as third:  # the same host, a fresh Chromium
        assert third.host_pid == pid and live_in_groups({pid})
        third.create(spec)
        out, = third.run("a", [encode("x", torch.zeros(2))])["outputs"]
        assert decode(out).tolist() == [1.0, 1.0]
        everything = {pid} | jobs.groups_below(pid)
    import shutil

    shutil.rmtree(slot)  # what the runner does when the run ends
    assert _gone(everything)


def test_a_host_whose_caller_dies_is_reaped_with_its_browser(tmp_path):
    groups_file = tmp_path / "groups"
    caller = os.fork()
    if caller == 0:  # stands in for a runner worker killed at its timeout
        try:
            page = host.PageHost("wasm", 1).__enter__()
            staged = tmp_path / "groups.tmp"
            staged.write_text(" ".join(map(str, {page.host_pid} | jobs.groups_below(page.host_pid))))
            staged.rename(groups_file)
            time.sleep(60)
        finally:
            os._exit(0)
    assert_reaped_with_its_browser(caller, groups_file)


def test_a_page_request_never_outlives_the_case(monkeypatch):
    """Each request's limit is the page's own within what the case has left: a mode outliving the case would have
    the runner kill the worker, and the forward's pass with it."""
    from hwcov.backends.browser import modes

    graphs = modes.PageGraphs("wasm", 150)
    monkeypatch.setattr(modes, "case_time_left", lambda: (modes.CLOSE_MARGIN_S + 5, 300.0))
    assert graphs.budget() == pytest.approx(5)
    monkeypatch.setattr(modes, "case_time_left", lambda: (float("inf"), float("inf")))  # outside a runner
    assert graphs.budget() == 150
    monkeypatch.setattr(modes, "case_time_left", lambda: (modes.CLOSE_MARGIN_S - 1, 300.0))
    with pytest.raises(host.PageHostError, match="time is spent"):
        graphs.session("unused.onnx")


def test_a_runner_worker_keeps_one_browser_for_its_cases():
    """The sweep's path: cases forked by the runner, one worker, three cases: one page host (one Chromium start) serves
    them all, each on its own page, and it ends with the run."""
    from hwcov.run.runner import Limits, run_isolated

    seen = []
    run_isolated(range(3), _open_a_page, lambda t, r, s: seen.append(r), Limits(workers=1, memory_mb=0))
    assert all(r["status"] == "pass" for r in seen), seen
    assert len({r["host"] for r in seen}) == 1 and len({r["chromium"] for r in seen}) == 1
    assert [r["ahead"] for r in seen] == [False, True, True]  # after the first, each page was opened before asked
    assert _gone({seen[0]["host"]} | set(seen[0]["chromium"]))


def _open_a_page(task) -> dict:
    with host.PageHost("wasm", 1) as page:
        pid = page.host_pid
        return {"status": "pass", "host": pid, "chromium": tuple(sorted(jobs.groups_below(pid) - {pid})),
                "ahead": page.opened_ahead}


def test_a_page_that_cannot_open_fails_its_case_and_keeps_the_workers_host(tmp_path, monkeypatch):
    from hwcov.core.limits import WORKER_SLOT_ENV

    slot = tmp_path / "slot-0"
    slot.mkdir()
    monkeypatch.setenv(WORKER_SLOT_ENV, str(slot))
    with host.PageHost("wasm", 1) as page:
        pid = page.host_pid
    with pytest.raises(host.PageHostError, match="the page didn't open: KeyError"):
        host.PageHost("no-such-provider", 1).__enter__()
    with host.PageHost("wasm", 1) as page:  # the same host serves the next case
        assert page.host_pid == pid and page.browser.startswith("Chromium ")
    import shutil

    shutil.rmtree(slot)
    assert _gone({pid})


def test_the_next_cases_page_is_opened_ahead_fresh_and_only_for_the_page_it_asks(tmp_path, monkeypatch):
    """The host's spare page (host.Spare): after a case, the same page opened and onnxruntime-web warmed up before the
    next case asks. That case finds no session of the last one's nor any console line of the warm-up (its placements
    evidence is its own session's), runs its graph; a case asking for another page (another thread count) gets one
    opened then, and the spare it didn't fit is never handed to anyone."""
    import torch

    from hwcov.backends.browser.tensors import decode, encode
    from hwcov.core.limits import WORKER_SLOT_ENV

    slot = tmp_path / "slot-0"
    slot.mkdir()
    monkeypatch.setenv(WORKER_SLOT_ENV, str(slot))
    spec = {"model": str(_tiny_graph(tmp_path)), "provider": "wasm", "severity": 0, "externalData": [], "key": "a"}
    with host.PageHost("wasm", 1, log="verbose") as first:
        first.create(spec)
    with host.PageHost("wasm", 1, log="verbose") as second:
        assert second.opened_ahead
        with pytest.raises(host.PageHostError, match="no session 'a'"):
            second.run("a", [encode("x", torch.ones(1))])
        job = second.session("wasm", spec["model"], [], [encode("x", torch.zeros(3))], 1)
        assert decode(job["outputs"][0]).tolist() == [1.0, 1.0, 1.0]
        # its one node placed, and no more: the warm-up's session logged nothing that reached this case
        assert {ep: count for ep, (count, _) in job["placements"].items()} == {"CPUExecutionProvider": 1}
    with host.PageHost("wasm", 2, log="verbose") as other:
        assert not other.opened_ahead  # the spare was for one thread
        other.create(spec)
    with host.PageHost("wasm", 2, log="verbose") as again:
        assert again.opened_ahead  # the next spare follows the last page asked for
    import shutil

    shutil.rmtree(slot)


def test_the_warm_up_graph_is_the_one_its_comment_names():
    """runner.js carries the warm-up graph as bytes; rebuilt here from its description, they are the same file."""
    import re

    import onnx
    from onnx import TensorProto, helper

    from hwcov.backends.browser.server import WEB_DIR

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "warm",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    text = (WEB_DIR / "runner.js").read_text()
    carried = bytes(int(b) for b in re.search(r"WARM_GRAPH = new Uint8Array\(\[([\d,\s]+)\]\)", text)[1].split(","))
    assert carried == model.SerializeToString()
    onnx.checker.check_model(onnx.load_from_string(carried))


def test_the_warm_up_runs_its_graph_and_is_bounded():
    """What the host runs on a spare page: the graph returns what it was fed; past its limit the warm-up fails (the
    host then closes that page: a hung warm-up never holds the host with no case to time it out)."""
    from playwright.sync_api import sync_playwright

    from hwcov.backends.browser.pages import PROVIDERS
    from hwcov.backends.browser.server import PageServer

    with PageServer() as server, sync_playwright() as p:
        browser = jobs.launch(p)
        try:
            page = jobs.open_page(browser, server, PROVIDERS["wasm"][1], 1, [])
            assert page.evaluate("() => window.hwcov.warm()") is True
            fresh = jobs.open_page(browser, server, PROVIDERS["wasm"][1], 1, [])
            with pytest.raises(Exception, match="warm-up past 0 ms"):
                fresh.evaluate("() => window.hwcov.warm(0)")
        finally:
            browser.close()
