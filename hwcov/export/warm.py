"""The export toolchain made ready once, in the case fork server, instead of in every case it forks (#27).

Measured on this 2-core machine: a preloaded fork's first ONNX export (ijepa, glm) spent ~1 s importing the parts of
torch.export, torch.onnx, onnxscript and transformers.exporters that load on first use, with the ~110 modeling
modules whose classes transformers' export patches name (resolved at every export's start), and another 0.25-0.5 s
rebuilding torch.onnx's operator registry from torchlib (a signature inferred from type hints for each of ~500
functions), which it does for every graph it exports: twice more for a case's dynamic and generation modes.

`warm()` imports those modules, resolves the patch targets (entering and leaving transformers' own `apply_patches`,
which imports them and restores every attribute) and builds the registry once; later exports get a copy of it.
None of it starts a thread: no forward runs, no session opens, and openvino (whose import starts a TBB thread) is left
to the cases that use it.
"""
from __future__ import annotations

import copy
import functools
import importlib

# Where torch.export, torch.onnx and onnxscript load on a first export (the rest comes with these: networkx through
# torch's partitioners, the fusion rules through the optimizer).
TOOLCHAIN = ("torch.export._trace", "torch._functorch.partitioners", "torch._export.passes.replace_set_grad_with_hop_pass",
             "torch._export.passes.replace_autocast_with_hop_pass", "torch._inductor.fx_passes.dedupe_symint_uses",
             "torch._subclasses.schema_check_mode", "torch.fx.experimental.validator", "torch.utils.serialization",
             "torch.onnx._internal.exporter._core", "torch.onnx._internal.exporter._compat",
             "torch.onnx._internal.exporter._torchlib.ops", "onnxscript.function_libs.torch_lib.ops",
             "onnxscript.optimizer", "onnxscript.rewriter.ort_fusions", "onnxscript.rewriter.onnx_fusions",
             "onnxscript.rewriter.rules.fusion", "transformers.exporters.auto", "transformers.exporters.runners",
             "transformers.exporters.exporter_dynamo", "transformers.exporters.exporter_onnx")
# transformers' patch sets whose targets resolve without openvino ("openvino"'s would import it)
PATCH_SETS = ("dynamo", "onnx")


def warm() -> list[str]:
    """Import the toolchain, resolve the patch targets, build the shared operator registry. Returns what could not be
    made ready (a module missing from this install, say): a case then does that part itself, as before."""
    missing = []
    for name in TOOLCHAIN:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    try:
        from transformers.exporters.utils import apply_patches

        for patch_set in PATCH_SETS:
            with apply_patches(patch_set):
                pass
    except ImportError:
        missing.append("transformers.exporters.utils.apply_patches")
    if not share_operator_registry():
        missing.append("torch.onnx operator registry")
    return missing


def share_operator_registry() -> bool:
    """Have torch.onnx's `ONNXRegistry.from_torchlib` build once per opset and hand each export a copy (its own lists:
    an export registers its custom translations into them). False, changing nothing, where this torch's registry is
    not the shape this expects."""
    try:
        from torch.onnx._internal.exporter import _registration
    except ImportError:
        return False
    registry_cls = getattr(_registration, "ONNXRegistry", None)
    build = getattr(registry_cls, "from_torchlib", None)
    if build is None:
        return False
    if getattr(build, "hwcov_shared", False):
        return True
    built = functools.cache(build)  # build(opset_version): the classmethod, bound to the class

    def from_torchlib(cls, *args, **kwargs):
        if cls is not registry_cls:  # a subclass builds its own, as before
            return build.__func__(cls, *args, **kwargs)
        return _copied(built(*args, **kwargs))

    from_torchlib.hwcov_shared = True
    from_torchlib.hwcov_built_by = build  # torch's own, for a test to compare against
    try:
        probe = _copied(built())
        if not isinstance(getattr(probe, "functions", None), dict):
            return False
    except Exception:  # noqa: BLE001 - any surprise here: leave torch's own builder in place
        return False
    registry_cls.from_torchlib = classmethod(from_torchlib)
    return True


def _copied(registry):
    """A registry whose per-operator lists are its own (the shared one's entries are read, never changed)."""
    clone = copy.copy(registry)
    clone.functions = {name: list(entries) for name, entries in registry.functions.items()}
    return clone
