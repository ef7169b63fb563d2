"""The tolerance rules: fp16 bounds scale with the output's magnitude, int8 is judged by direction, fp32's absolute
bound is capped by the output's own scale, and outputs that carry no signal are never what a pass rests on."""
import numpy as np
import pytest

from hwcov.backends import validate
from hwcov.models import signal


def test_fp16_bound_grows_with_the_outputs_magnitude():
    tol = validate.tolerance("onnxruntime", "fp16")
    small = {"x": np.array([0.5, -0.25, 0.1, 0.4], "float32")}
    large = {"x": np.array([20.0, -10.0, 4.0, 16.0], "float32")}
    # 0.05 off: too far for a unit-scale output (bound 0.01 + 0.01 * 0.5), within fp16 steps at 20 (0.01 + 0.2)
    assert validate.compare(small, {"x": small["x"] + 0.05}, tol).status == "fail_accuracy"
    verdict = validate.compare(large, {"x": large["x"] + 0.05}, tol)
    assert verdict.status == "pass" and verdict.tolerance == pytest.approx(0.21)
    failed = validate.compare(large, {"x": large["x"] + 0.5}, tol)
    assert failed.status == "fail_accuracy" and failed.tolerance == pytest.approx(0.21)
    assert "0.01 x max|ref|" in failed.message and "'x'" in failed.message


def test_bound_is_judged_per_output():
    tol = validate.tolerance("onnxruntime", "fp16")
    ref = {"big": np.array([100.0, -50.0, 20.0, 80.0], "float32"), "unit": np.array([0.5, -0.5, 0.25, 0.1], "float32")}
    # 0.5 off on 'big' is within its bound (1.01); 0.02 off on 'unit' is not (0.015)
    verdict = validate.compare(ref, {"big": ref["big"] + 0.5, "unit": ref["unit"] + 0.02}, tol)
    assert verdict.status == "fail_accuracy" and "'unit'" in verdict.message
    assert verdict.max_abs_diff == pytest.approx(0.5)


def test_fp32_stays_an_absolute_bound():
    tol = validate.tolerance("openvino", "fp32")
    assert tol.rel == 0.0
    large = {"x": np.array([1000.0, -500.0, 250.0, 10.0], "float32")}
    assert validate.compare(large, {"x": large["x"] + 1e-3}, tol).status == "fail_accuracy"


def test_int8_cosine_with_an_absolute_floor_for_near_zero_outputs():
    tol = validate.tolerance("openvino", "int8")
    assert (tol.kind, tol.value, tol.floor) == ("cosine", 0.99, 1e-2)
    rng = np.random.default_rng(0)
    ref = {"x": rng.standard_normal(64).astype("float32")}
    assert validate.compare(ref, {"x": ref["x"] + 0.02 * rng.standard_normal(64)}, tol).status == "pass"
    assert validate.compare(ref, {"x": rng.standard_normal(64)}, tol).status == "fail_accuracy"
    near_zero = {"x": 1e-4 * rng.standard_normal(64).astype("float32")}
    # unrelated direction, but every value within the floor: nothing for cosine to judge
    assert validate.compare(near_zero, {"x": 1e-4 * rng.standard_normal(64)}, tol).status == "pass"


def test_overrides_carry_rel_and_floor():
    table = {"defaults": {"*": {"fp16": {"max_abs": 1e-2}}},
             "overrides": [{"model_type": "foo", "precision": "fp16", "max_abs": 1e-2, "rel": 5e-2, "why": "w"},
                           {"model_type": "bar", "precision": "int8", "cosine": 0.98, "max_abs": 5e-2, "why": "w"}]}
    assert validate.tolerance("openvino", "fp16", "foo", table).rel == 5e-2
    bar = validate.tolerance("openvino", "int8", "bar", table)
    assert (bar.kind, bar.value, bar.floor) == ("cosine", 0.98, 5e-2)
    assert validate.tolerance("openvino", "fp16", "baz", table).rel == 0.0


def test_fp32_bound_is_capped_by_the_outputs_scale():
    """A 1e-4 bound on an output of magnitude 1e-5 would pass a graph of zeros; the cap makes it 1e-7."""
    tol = validate.tolerance("onnxruntime", "fp32")
    small = {"x": np.array([1e-5, -5e-6, 2e-6, 8e-6], "float32")}
    zeros = validate.compare(small, {"x": np.zeros(4, "float32")}, tol)
    assert zeros.status == "fail_accuracy" and zeros.tolerance == pytest.approx(1e-7)
    assert zeros.max_rel_error == pytest.approx(1.0)
    assert validate.compare(small, {"x": small["x"] * (1 + 1e-6)}, tol).status == "pass"
    unit = {"x": np.array([1.0, -0.5, 0.2, 0.8], "float32")}
    assert validate.compare(unit, {"x": unit["x"]}, tol).tolerance == pytest.approx(1e-4)


@pytest.mark.parametrize("reference, why", [
    (np.zeros((2, 3), "float32"), "all zero"),
    (np.full((2, 3), 3e-20, "float32"), "below 1e-06"),
    (np.full((2, 3), 0.5, "float32"), "constant 0.5"),
    (np.full((2, 3), np.nan, "float32"), "holds NaN or inf"),
])
def test_a_degenerate_reference_passes_nothing_not_even_itself(reference, why):
    verdict = validate.compare({"out": reference}, {"out": reference.copy()}, validate.tolerance("openvino", "fp32"))
    assert verdict.status == "fail_accuracy" and verdict.message.startswith("degenerate reference")
    assert why in verdict.message and why in verdict.uninformative


def test_a_partly_degenerate_reference_is_judged_on_its_informative_outputs():
    rng = np.random.default_rng(0)
    ref = {"logits": rng.standard_normal((1, 8)).astype("float32"), "pooled": np.zeros((1, 4), "float32")}
    tol = validate.tolerance("onnxruntime", "fp32")
    zeros = {k: np.zeros_like(v) for k, v in ref.items()}
    assert validate.compare(ref, zeros, tol).status == "fail_accuracy"  # zeros match 'pooled' but not 'logits'
    verdict = validate.compare(ref, {k: v.copy() for k, v in ref.items()}, tol)
    assert verdict.status == "pass" and verdict.uninformative == "pooled: all zero"


def test_an_output_the_input_does_not_move_carries_no_signal():
    ref = {"a": np.array([1.0, 2.0, 3.0], "float32"), "b": np.array([0.1, -0.2, 0.3], "float32")}
    other = {"a": ref["a"] + 0.5, "b": ref["b"].copy()}
    assert signal.uninformative(ref, other) == {"b": "the same for a different input"}
    kept = signal.Reference(ref, signal.uninformative(ref, other))
    verdict = validate.compare(kept, {"a": ref["a"], "b": np.zeros(3, "float32")}, validate.tolerance("cpu", "fp32"))
    assert verdict.status == "pass" and "different input" in verdict.uninformative


def test_mutation_check_finds_the_inert_block_of_a_real_model():
    """Two blocks; the second's output is scaled by 1e-6 (convnext's layer-scale init): perturbing its weights
    moves nothing, perturbing the first's moves the output by far more than the tightest bound."""
    import torch

    class Scaled(torch.nn.Module):
        def __init__(self, scale):
            super().__init__()
            self.lin, self.scale = torch.nn.Linear(8, 8), scale

        def forward(self, x):
            return x + self.scale * self.lin(x)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = torch.nn.ModuleList([Scaled(1.0), Scaled(1e-6)])

        def forward(self, x):
            for layer in self.layers:
                x = layer(x)
            return x

    torch.manual_seed(0)
    net, x = Net(), torch.randn(2, 8)

    def forward():
        with torch.no_grad():
            return {"out": net(x).numpy()}

    reference = forward()
    before = {k: p.clone() for k, p in net.state_dict().items()}
    found = signal.mutation_sensitivity(net, forward, reference, {})
    assert found.inert == ["layers.1"] and found.weakest < signal.SENSITIVE and found.unchecked == 0
    assert all(torch.equal(before[k], p) for k, p in net.state_dict().items())  # weights restored
    net.layers[1].scale = 1.0
    found = signal.mutation_sensitivity(net, forward, forward(), {})
    assert found.inert == [] and found.weakest > signal.SENSITIVE and found.unused == []
    net.spare = torch.nn.ModuleList([Scaled(1.0)])  # weights the forward never calls: unused, not inert
    found = signal.mutation_sensitivity(net, forward, forward(), {})
    assert found.unused == ["spare.0"] and found.inert == []


def test_discrete_outputs_carry_signal_and_match_exactly():
    """A codec's audio codes (wavtokenizer_encoder returns nothing else) are signal when they vary with the input,
    and a code off by one is another code: no precision's bound lets it pass, cosine-judged int8 included."""
    codes = {"audio_codes": np.array([[2435, 3423, 2435, 1265, 3367]], "int64")}
    assert signal.uninformative(codes, {"audio_codes": codes["audio_codes"] + 1}) == {}
    for hardware, precision in (("onnxruntime", "fp32"), ("openvino", "fp16"), ("openvino", "int8")):
        tol = validate.tolerance(hardware, precision)
        assert validate.compare(codes, {"audio_codes": codes["audio_codes"].copy()}, tol).status == "pass"
        off = codes["audio_codes"].copy()
        off[0, 1] += 1
        verdict = validate.compare(codes, {"audio_codes": off}, tol)
        assert verdict.status == "fail_accuracy" and "differs from the reference in 1 of 5" in verdict.message
    same = signal.uninformative(codes, {"audio_codes": codes["audio_codes"].copy()})
    assert same == {"audio_codes": "the same for a different input"}
    constant = {"labels": np.full((1, 4), 7, "int64")}
    verdict = validate.compare(constant, {"labels": constant["labels"].copy()}, validate.tolerance("cpu", "fp32"))
    assert verdict.status == "fail_accuracy" and "constant 7" in verdict.message
