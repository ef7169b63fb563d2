"""The legacy exporter's missing operators, translated: ONNX Runtime computes what torch does."""
import numpy as np
import onnxruntime as ort
import torch

from hwcov.export import onnx_symbolics


class Ops(torch.nn.Module):
    def forward(self, x, edge):
        return (torch.expm1(x), torch.diff(x, dim=1), torch.diff(x, n=2, dim=-1),
                torch.diff(x, dim=1, prepend=edge, append=edge))


def test_expm1_and_diff_export_at_opset_17_and_match_torch(tmp_path):
    onnx_symbolics.register()
    x, edge = torch.randn(2, 5, 7), torch.randn(2, 1, 7)
    path = tmp_path / "ops.onnx"
    torch.onnx.export(Ops(), (x, edge), str(path), dynamo=False, opset_version=onnx_symbolics.OPSET,
                      input_names=["x", "edge"])
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x.numpy(),
                                                                                       "edge": edge.numpy()})
    for ours, theirs in zip(got, Ops()(x, edge)):
        assert ours.shape == tuple(theirs.shape)
        np.testing.assert_allclose(ours, theirs.numpy(), atol=1e-6)
