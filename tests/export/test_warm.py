"""The export toolchain made ready in the fork server (#27): what warm() loads, that it starts no thread, and that the
operator registry every export now copies is torch's own, each copy apart from the others."""
import json
import subprocess
import sys

import numpy as np
import torch

from hwcov.export import warm


def test_each_export_gets_its_own_copy_of_the_registry_torch_builds():
    assert warm.share_operator_registry()
    from torch.onnx._internal.exporter import _registration

    registry_cls = _registration.ONNXRegistry
    first, second = registry_cls.from_torchlib(), registry_cls.from_torchlib()
    own = registry_cls.from_torchlib.hwcov_built_by.__func__(registry_cls)  # torch's builder, run afresh
    assert first is not second and first.functions is not second.functions
    assert first.functions.keys() == own.functions.keys() and len(first.functions) > 300
    assert all(len(first.functions[k]) == len(own.functions[k]) for k in own.functions)
    assert first.opset_version == own.opset_version
    name = next(iter(first.functions))
    first.functions[name].insert(0, "a custom translation")  # what an export with custom_translation_table does
    assert second.functions[name][0] != "a custom translation"
    assert registry_cls.from_torchlib().functions[name][0] != "a custom translation"
    assert warm.share_operator_registry()  # twice: still one wrapper, not a wrapper of the wrapper
    assert not hasattr(registry_cls.from_torchlib.hwcov_built_by, "hwcov_built_by")


def test_a_graph_exported_through_the_shared_registry_runs_and_matches_torch(tmp_path):
    import onnxruntime

    assert warm.share_operator_registry()
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.GELU()).eval()
    x = torch.randn(2, 4)
    for attempt in range(2):  # the second export's registry is a copy of the first's builder output
        path = tmp_path / f"m{attempt}.onnx"
        torch.onnx.export(model, (x,), str(path), dynamo=True, optimize=False)
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
        np.testing.assert_allclose(got, model(x).detach().numpy(), atol=1e-5)


_PROBE = """
import json, os, sys
from hwcov.run.runner import preload, warm_imports
preload(); warm_imports()
threads = len(os.listdir("/proc/self/task"))
models = {m for m in sys.modules if m.startswith("transformers.models.")}
from hwcov.export import warm
missing = warm.warm()
print(json.dumps({"missing": missing, "threads": [threads, len(os.listdir("/proc/self/task"))],
                  "loaded": [m for m in warm.TOOLCHAIN if m in sys.modules], "openvino": "openvino" in sys.modules,
                  "patch_targets": len({m for m in sys.modules if m.startswith("transformers.models.")} - models)}))
"""


def test_warming_loads_the_toolchain_and_patch_targets_and_starts_no_thread():
    """In a fresh interpreter, as the fork server: a thread started here would be held by every forked case."""
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=300, check=True)
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["missing"] == []
    assert seen["threads"][0] == seen["threads"][1], seen["threads"]
    assert seen["loaded"] == list(warm.TOOLCHAIN)
    assert not seen["openvino"]  # its import starts a TBB thread: left to the cases
    assert seen["patch_targets"] > 50  # the modeling modules transformers' export patches name
