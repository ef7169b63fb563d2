"""The dynamic and generate modes (issue #25) on onnxruntime-web: the same checks as onnxruntime's and openvino's
(hwcov.backends.dynamic, .generation, on the same cached hf-onnx-dynamic / hf-onnx-generate exports), each graph a
session on one page.

The torch work (the models at each shape, the references, the loop) stays in the case's process; the graphs run on
one page of the worker's page host (hwcov.backends.browser.client; the host is a spawned interpreter running no
torch). A graph's session is created once, then every feed crosses the page boundary as the
sweep's does (tensors.encode / decode) and comes back as the model's outputs -- for a generation, its KV cache too,
rebuilt by the exporter's own output spec, so the loop carries the cache through the page as through onnxruntime.
A page that hangs is ended at the request's deadline (its Chromium killed) and the mode's verdict says so.
"""
from __future__ import annotations

from hwcov.backends.browser import jobs
from hwcov.backends.browser.client import PageHost, PageHostError
from hwcov.backends.browser.pages import PROVIDERS
from hwcov.backends.browser.tensors import decode, decode_outputs, encode, graph_io
from hwcov.backends.exported import check_modes, hf_component
from hwcov.core.limits import case_time_left
from hwcov.core.schema import EXTRA_MODES

CLOSE_MARGIN_S = 15.0  # of the case's time, kept for closing the page host and writing the row


class PageGraphs:
    """Graphs as sessions on a page host's page (by key), feeds run through them; the page opens at the first graph
    (a check skipped for time costs no page)."""

    def __init__(self, hardware: str, timeout_s: float):
        self.hardware, self.timeout_s = hardware, timeout_s
        self.host: PageHost | None = None
        self.created = 0

    def budget(self) -> float:
        """A request's limit: the page's own, within what the case has left (a mode that outlives the case would
        have the runner kill the worker, and the forward's pass with it)."""
        left = case_time_left()[0] - CLOSE_MARGIN_S
        if left <= 0:
            raise PageHostError("the case's time is spent: no page request started")
        return min(self.timeout_s, left)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.host is not None:
            self.host.__exit__(*exc)

    def session(self, model_file) -> str:
        """A session of the graph file on the hardware's provider; its key."""
        if self.host is None:
            self.host = PageHost(self.hardware, jobs.threads(), self.budget()).__enter__()
        self.host.timeout_s = self.budget()
        _, external = graph_io(model_file)
        self.created += 1
        key = f"g{self.created}"
        self.host.create({"model": str(model_file), "provider": PROVIDERS[self.hardware][0], "severity": 3,
                          "key": key, "externalData": external})
        return key

    def run(self, key: str, fed: dict) -> list[dict]:
        """The session's outputs (graph order, encoded) for named input tensors."""
        self.host.timeout_s = self.budget()
        return self.host.run(key, [encode(name, tensor) for name, tensor in fed.items()])["outputs"]


def _runner_cls():
    from transformers.exporters.runners.base import ModelRunner
    from transformers.exporters.utils import onnx_inputs

    class PageRunner(ModelRunner):
        """A transformers runner whose graph is a session on the page: kwargs in, the model's outputs out (a KV cache
        object too), rebuilt by the exporter's recorded output spec."""

        device = None

        def __init__(self, metadata, graphs: PageGraphs, model_file):
            super().__init__(metadata)
            self.graphs, self.key = graphs, graphs.session(model_file)
            self.inputs = graph_io(model_file)[0]

        @classmethod
        def from_program(cls, program, metadata, device=None):
            raise NotImplementedError("a page runner opens a graph file, not a program")

        def __call__(self, share_inputs: bool = True, share_outputs: bool = False, **kwargs):
            import torch

            fed = onnx_inputs(self.inputs, kwargs)
            missing = [name for name in self.inputs if name not in fed]
            if missing:
                raise ValueError(f"the graph takes {missing}, which {sorted(kwargs)} don't hold")
            outputs = self.graphs.run(self.key, fed)
            return self.unflatten([torch.from_numpy(decode(o)) for o in outputs])

    return PageRunner


class PageBackend:
    """What the mode checks ask of a backend (family, hardware, routes, load_graph, component_runner), on a page
    host."""

    def __init__(self, backend, graphs: PageGraphs):
        self.family, self.hardware, self.routes, self.graphs = backend.family, backend.hardware, backend.routes, graphs

    def load_graph(self, exported, precision: str):
        """feed -> named outputs through a session of the export's graph (the sweep's tensors and names)."""
        from hwcov.backends.browser.tensors import fed_tensors

        if precision != "fp32":
            raise ValueError(f"the modes run the fp32 graph, not {precision}")
        model = exported.onnx_file
        inputs = graph_io(model)[0]
        key = self.graphs.session(model)

        def infer(feed: dict) -> dict:
            fed = fed_tensors(_with_feed(exported, feed), inputs)
            return decode_outputs(exported, self.graphs.run(key, fed))
        return infer, f"onnxruntime-web {PROVIDERS[self.hardware][0]} EP"

    def component_runner(self, exported, component: str):
        meta, graph = hf_component(exported, component)
        return _runner_cls()(meta, self.graphs, graph)


def _with_feed(exported, feed: dict):
    """The export with another feed (fed_tensors reads the feed off the export)."""
    import dataclasses

    return dataclasses.replace(exported, feed=feed)


def run_modes(backend, case, export_dir, route: str, modes=EXTRA_MODES) -> dict:
    """The dynamic_* and generate_* fields of a passing fp32 forward on a browser provider: both checks, the torch
    work here, every graph a session on one page host's page."""
    with PageGraphs(backend.hardware, jobs.JOB_TIMEOUT_S) as graphs:
        return check_modes(PageBackend(backend, graphs), case, export_dir, route, modes)
