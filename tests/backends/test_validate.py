"""The tolerance rules: fp16 bounds scale with the output's magnitude, int8 is judged by direction."""
import numpy as np
import pytest

from hwcov.backends import validate


def test_fp16_bound_grows_with_the_outputs_magnitude():
    tol = validate.tolerance("onnxruntime", "fp16")
    small = {"x": np.full(4, 0.5, "float32")}
    large = {"x": np.full(4, 20.0, "float32")}
    # 0.05 off: too far for a unit-scale output (bound 0.01 + 0.01 * 0.5), within fp16 steps at 20 (0.01 + 0.2)
    assert validate.compare(small, {"x": small["x"] + 0.05}, tol).status == "fail_accuracy"
    verdict = validate.compare(large, {"x": large["x"] + 0.05}, tol)
    assert verdict.status == "pass" and verdict.tolerance == pytest.approx(0.21)
    failed = validate.compare(large, {"x": large["x"] + 0.5}, tol)
    assert failed.status == "fail_accuracy" and failed.tolerance == pytest.approx(0.21)
    assert "0.01 x max|ref|" in failed.message and "'x'" in failed.message


def test_bound_is_judged_per_output():
    tol = validate.tolerance("onnxruntime", "fp16")
    ref = {"big": np.full(4, 100.0, "float32"), "unit": np.zeros(4, "float32")}
    # 0.5 off on 'big' is within its bound (1.01); 0.02 off on 'unit' is not (0.01)
    verdict = validate.compare(ref, {"big": ref["big"] + 0.5, "unit": ref["unit"] + 0.02}, tol)
    assert verdict.status == "fail_accuracy" and "'unit'" in verdict.message
    assert verdict.max_abs_diff == pytest.approx(0.5)


def test_fp32_stays_an_absolute_bound():
    tol = validate.tolerance("openvino", "fp32")
    assert tol.rel == 0.0
    large = {"x": np.full(4, 1000.0, "float32")}
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
