"""ExecuTorch backend: the route mobile apps ship. The case exported by transformers.exporters' ExecutorchExporter
(torch.export, then lowered to ExecuTorch's XNNPACK delegate: ExecutorchConfig(backend='xnnpack')) into a .pte
program, loaded and run by ExecuTorch's own runtime (executorch.runtime, its C++ interpreter via pybindings) on this
CPU (#25).

fp32 only: XNNPACK's quantized paths need a quantizer pass of their own, not a precision switch. The probe asks the
runtime whether the XNNPACK backend is registered in this build; without it the program would fail to load, so the
hardware is `unavailable` with the runtime's words. The evidence names the runtime, the delegate and the program's
delegate calls (read from the program itself: a program that fell back to ExecuTorch's portable kernels everywhere
is not a run "on XNNPACK").
"""
from __future__ import annotations

import time

from hwcov.backends.base import Loaded, Probe
from hwcov.backends.exported import ExportBackend, hf_component, named_outputs
from hwcov.core.system import cpu_name
from hwcov.export import routes as export

DELEGATE = "XnnpackBackend"


def versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"executorch {version('executorch')}; {export.versions()}"
    except PackageNotFoundError:
        return f"executorch not installed; {export.versions()}"


def delegate_calls(pte_file) -> int:
    """How many subgraphs the program hands to the XNNPACK delegate (its lowered-backend records)."""
    from executorch.exir._serialize._program import deserialize_pte_binary

    program = deserialize_pte_binary(pte_file.read_bytes())
    program = getattr(program, "program", program)
    return sum(1 for plan in program.execution_plan for d in plan.delegates if d.id == DELEGATE)


class ExecuTorchBackend(ExportBackend):
    family = "executorch"
    runtime = "executorch"
    routes = ("hf-executorch",)
    variants = {"xnnpack": ({}, "ExecuTorch runtime, the program lowered to the XNNPACK delegate")}

    def versions(self) -> str:
        return versions()

    def probe(self) -> Probe:
        try:
            from executorch.runtime import Runtime
        except ImportError as exc:
            return Probe(False, runtime_version=versions(),
                         error=f"executorch not importable ({exc}): pip install 'hwcov[executorch]'")
        registry = Runtime.get().backend_registry
        if not registry.is_available(DELEGATE):
            return Probe(False, runtime_version=versions(),
                         error=f"this executorch build has no {DELEGATE} "
                               f"(registered: {registry.registered_backend_names})")
        return Probe(True, f"executorch runtime, {DELEGATE} delegate | cpu: {cpu_name()}", versions())

    def _runner(self, exported: export.Exported):
        from executorch.runtime import Runtime
        from transformers.exporters.runners.runner_executorch import ExecutorchModelRunner

        meta, program_file = hf_component(exported, "model")
        delegated = delegate_calls(program_file)
        if not delegated:
            raise RuntimeError(f"the program hands nothing to {DELEGATE}: every op on the portable kernels")
        runner = ExecutorchModelRunner(Runtime.get().load_program(str(program_file)), meta)
        device = (f"executorch runtime ({program_file.name}, {delegated} {DELEGATE} delegate call"
                  f"{'s' if delegated != 1 else ''}) | cpu: {cpu_name()}")
        return runner, device

    def load_graph(self, exported: export.Exported, precision: str):
        runner, device = self._runner(exported)
        return (lambda feed: named_outputs(runner(**feed))), device

    def load(self, built, case, batch: int, precision: str, variant: str, export_dir=None, route: str = "",
             exported=None, **options) -> Loaded:
        exported = exported or self.export_case(built, case, batch, export_dir, route)
        started = time.perf_counter()
        runner, device = self._runner(exported)
        load_ms = (time.perf_counter() - started) * 1000
        return Loaded(lambda: runner(**exported.feed), lambda: named_outputs(runner(**exported.feed)), device,
                      load_ms, fields={"export_route": exported.route})
