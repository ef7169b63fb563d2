"""The page host (hwcov.backends.browser.host) for real: a spawned interpreter with one Chromium page, driven over a
pipe. Its isolation is the browser jobs' own: a request past its deadline kills it with its Chromium and fails what
follows at once; a host whose caller dies goes with its browser."""
import os
import time

import pytest

from hwcov.backends.browser import host, jobs
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
        groups = {page.process.pid} | jobs.groups_below(page.process.pid)
        assert len(groups) >= 2 and live_in_groups(groups)  # the host's group and Chromium's
    assert not live_in_groups(groups)


def test_a_request_past_its_deadline_kills_the_host_and_fails_what_follows(tmp_path):
    import torch

    from hwcov.backends.browser.tensors import encode

    with host.PageHost("wasm", 1, timeout_s=0.001) as page:  # the start has its own limit; every request is late
        groups = {page.process.pid} | jobs.groups_below(page.process.pid)
        with pytest.raises(host.PageHostError, match="timed out"):
            page.create({"model": str(_tiny_graph(tmp_path)), "provider": "wasm", "key": "a", "externalData": []})
        assert page.process is None and not live_in_groups(groups)
        started = time.monotonic()
        with pytest.raises(host.PageHostError, match="timed out"):
            page.run("a", [encode("x", torch.ones(1))])
        assert time.monotonic() - started < 1


def test_a_host_whose_caller_dies_is_reaped_with_its_browser(tmp_path):
    groups_file = tmp_path / "groups"
    caller = os.fork()
    if caller == 0:  # stands in for a runner worker killed at its timeout
        try:
            page = host.PageHost("wasm", 1).__enter__()
            staged = tmp_path / "groups.tmp"
            staged.write_text(" ".join(map(str, {page.process.pid} | jobs.groups_below(page.process.pid))))
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
