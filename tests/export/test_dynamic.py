"""The `dynamic` mode (issue #25): a graph with symbolic axes is checked at its export shape and at two others against
the torch model at each; a graph that can only run at its export shape is `static_only`, never a pass."""
import pytest

from hwcov.backends.registry import get_backend
from hwcov.cases import generate
from hwcov.export import dynamic, routes
from tests.conftest import needs_browser

_DYNAMIC_ONNX = (dynamic.ROUTE["onnxruntime"], dynamic.SECOND_ROUTE["onnxruntime"])


def _run(archs, hardware: str, model_type: str, export_dir) -> dict:
    backend = get_backend(hardware)
    backend.export_dir = export_dir
    return backend.run(generate.case_for(archs[model_type]), "fp32", 1)


@pytest.mark.parametrize("hardware", ["onnxruntime", "openvino", pytest.param("wasm", marks=needs_browser())])
def test_a_dynamic_export_passes_at_three_shapes_each_against_the_model_there(archs, tmp_path, hardware):
    """wasm: the same cached hf-onnx-dynamic graph as onnxruntime's, each shape run on one page (a page host)."""
    row = _run(archs, hardware, "gpt2", tmp_path)
    assert row["status"] == "pass"
    assert row["dynamic_status"] == "pass", row["dynamic_message"]
    assert row["dynamic_route"] == dynamic.ROUTE[get_backend(hardware).family]
    # exported at the longer text (no size derived from it is 1 there), checked at the case's own too
    assert row["dynamic_shapes"] == "input_ids 2x20 (export) pass; input_ids 1x20 pass; input_ids 3x8 pass"
    assert 0 < row["dynamic_max_abs_diff"] < 1e-4
    # what each mode cost is part of the case's time (benchmarks/runtime_overhead.py splits the sweep by it)
    assert row["dynamic_s"] > 0 and row["generate_s"] > 0


@pytest.mark.parametrize("model_type, symbolic", [("gpt2", {"input_ids": [0, 1], "attention_mask": [0, 1]}),
                                                  ("vit", {"pixel_values": [0]})])
def test_the_dynamic_graph_leaves_symbolic_exactly_the_axes_its_check_varies(archs, tmp_path, model_type, symbolic):
    """Batch and text length are symbolic in the graph file; an image's channels and size, which no shape of the check
    changes, are static (with Dim.AUTO on every axis torch.export reasoned about them too: maskformer's export took
    over 10 minutes). A different spec is a different export (the cache's key)."""
    from hwcov.models.build import build_case

    case = generate.case_for(archs[model_type])
    built, _ = dynamic.export_built(build_case(case, dynamic.EXPORT_BATCH), case.input_spec)
    declared = dynamic.declared_shapes(routes.export(built, case, dynamic.EXPORT_BATCH, "hf-onnx-dynamic", tmp_path))
    assert {k: [a for a, d in enumerate(dims) if isinstance(d, str)] for k, dims in declared.items()} == symbolic
    import torch

    def digest(spec):
        return routes.model_digest(type(built)(built.config, built.model, built.feed, spec))

    every_axis = {k: dict.fromkeys(range(built.feed[k].dim()), torch.export.Dim.AUTO)
                  if torch.is_tensor(built.feed.get(k)) else v for k, v in built.dynamic_shapes.items()}
    batch_only = {k: {0: torch.export.Dim.AUTO} if torch.is_tensor(built.feed.get(k)) else v
                  for k, v in built.dynamic_shapes.items()}
    assert len({digest(built.dynamic_shapes), digest(None), digest(every_axis), digest(batch_only)}) == 3


def test_a_static_only_export_is_recorded_static_only_not_pass(archs, tmp_path, monkeypatch):
    """The 'dynamic' route replaced by a static trace (torch.onnx without dynamic axes, at batch 2): the graph runs
    at its export shape and fixes every axis, so another shape is refused before it runs. The second dynamic route is
    made static too: the row reports the first graph and says what the second gave."""
    for route in _DYNAMIC_ONNX:
        monkeypatch.setitem(routes.ROUTE_EXPORTERS, route, routes.ROUTE_EXPORTERS["torch-onnx-legacy"])
    row = _run(archs, "onnxruntime", "bert", tmp_path)
    assert row["status"] == "pass"  # the forward's own verdict stands
    assert row["dynamic_status"] == "static_only"
    assert row["dynamic_shapes"] == ("input_ids 2x20 (export) pass; input_ids 1x20 static_only; "
                                     "input_ids 3x8 static_only; input_ids 2x8 (length only, not counted) static_only")
    assert row["dynamic_route"] == "hf-onnx-dynamic"
    assert row["dynamic_message"] == ("torch-onnx-legacy-dynamic: static_only; "
                                      "at input_ids 1x20: attention_mask axis 0 is fixed at 2, fed 1")


def test_a_graph_fixed_in_its_batch_but_free_in_its_length_says_so_without_passing(archs, tmp_path, monkeypatch):
    """A graph whose batch is fixed and whose sequence is symbolic (as a VLM's image count is fixed and its text free)
    is static_only; the probe at the export's batch with the other text length passes, is listed, and is not
    counted."""
    import torch

    from hwcov.models import outputs

    def sequence_only(built, case, batch, feed, staging, export_dir):
        names = [k for k, v in feed.items() if torch.is_tensor(v)]
        output_names = list(outputs.flatten(built.model(**feed)))

        class Flat(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.model = built.model

            def forward(self, *tensors):
                return tuple(outputs.flatten(self.model(**dict(zip(names, tensors)))).values())

        torch.onnx.export(Flat().eval(), tuple(feed[k] for k in names), str(staging / "model.onnx"), input_names=names,
                          output_names=output_names, dynamic_axes={k: {1: "sequence"} for k in names}, dynamo=False)
        return {"format": "named", "inputs": names, "outputs": output_names}

    for route in _DYNAMIC_ONNX:
        monkeypatch.setitem(routes.ROUTE_EXPORTERS, route, sequence_only)
    row = _run(archs, "onnxruntime", "bert", tmp_path)
    assert row["dynamic_status"] == "static_only", row["dynamic_message"]
    assert row["dynamic_shapes"] == ("input_ids 2x20 (export) pass; input_ids 1x20 static_only; "
                                     "input_ids 3x8 static_only; input_ids 2x8 (length only, not counted) pass")


def test_a_failed_dynamic_export_falls_back_to_the_static_graph_and_says_so(archs, tmp_path, monkeypatch):
    def refuse(*_):
        raise RuntimeError("Constraints violated (batch)! the model specializes this axis")

    for route in _DYNAMIC_ONNX:
        monkeypatch.setitem(routes.ROUTE_EXPORTERS, route, refuse)
    row = _run(archs, "onnxruntime", "bert", tmp_path)
    assert row["status"] == "pass"
    assert (row["dynamic_status"], row["dynamic_route"]) == ("static_only", "hf-onnx (static fallback)")
    assert row["dynamic_message"].startswith("dynamic export failed (RuntimeError: Constraints "
                                             "violated (batch)!")
    assert "(torch-onnx-legacy-dynamic: export failed (RuntimeError: Constraints" in row["dynamic_message"]
    assert dynamic.fallback_cause(row["dynamic_message"]).startswith("RuntimeError: Constraints violated")
    assert "input_ids 1x8 (export) pass; input_ids 2x8 static_only" in row["dynamic_shapes"]


def _drift(monkeypatch, routes_drifting: tuple) -> None:
    """Graphs of `routes_drifting` right at their export shape only: their outputs drift when the batch differs."""
    from hwcov.backends.onnxruntime import OnnxRuntimeBackend

    real = OnnxRuntimeBackend.load_graph

    def drifting(self, exported, precision):
        infer, device = real(self, exported, precision)
        if exported.route not in routes_drifting:
            return infer, device

        def wrong_off_shape(feed):
            out = infer(feed)
            return {k: v + (feed["input_ids"].shape[0] != 2) for k, v in out.items()}
        return wrong_off_shape, device

    monkeypatch.setattr(OnnxRuntimeBackend, "load_graph", drifting)


def test_a_graph_wrong_at_another_shape_fails_there(archs, tmp_path, monkeypatch):
    """A dynamic graph right at its export shape only: the check catches it at the other shapes, where each is
    compared with the model's own outputs, and names the first."""
    _drift(monkeypatch, _DYNAMIC_ONNX)
    row = _run(archs, "onnxruntime", "bert", tmp_path)
    assert row["status"] == "pass"
    assert row["dynamic_status"] == "fail_accuracy"
    # the probe at the export's batch (2) and the other text length: right there, so the drift is the batch's
    assert row["dynamic_shapes"] == ("input_ids 2x20 (export) pass; input_ids 1x20 fail_accuracy; "
                                     "input_ids 3x8 fail_accuracy; input_ids 2x8 (length only, not counted) pass")
    assert row["dynamic_message"].startswith("torch-onnx-legacy-dynamic: fail_accuracy; at input_ids 1x20: ")


def test_where_the_first_dynamic_graph_fails_the_second_is_checked_and_the_row_names_both(archs, tmp_path,
                                                                                      monkeypatch):
    """torch.export's graph wrong off its export shape, the traced one (every axis symbolic) right: the row passes by
    the second graph, which it names, and says what the first gave."""
    _drift(monkeypatch, ("hf-onnx-dynamic",))
    row = _run(archs, "onnxruntime", "bert", tmp_path)
    assert (row["dynamic_status"], row["dynamic_route"]) == ("pass", "torch-onnx-legacy-dynamic")
    assert row["dynamic_message"] == "hf-onnx-dynamic: fail_accuracy"
    assert row["dynamic_shapes"] == "input_ids 2x20 (export) pass; input_ids 1x20 pass; input_ids 3x8 pass"


def test_a_second_graph_the_runtime_cant_load_fails_without_hiding_the_first(archs, tmp_path, monkeypatch):
    """mamba2's traced graph was refused by ONNX Runtime at load (a Transpose's perm): that graph fails at its export
    shape, and the row still reports the first graph's own verdict and shapes."""
    from hwcov.backends.onnxruntime import OnnxRuntimeBackend

    _drift(monkeypatch, ("hf-onnx-dynamic",))
    drifting = OnnxRuntimeBackend.load_graph

    def refuse_the_second(self, exported, precision):
        if exported.route == "torch-onnx-legacy-dynamic":
            raise RuntimeError("[ONNXRuntimeError] : 1 : FAIL : Load model failed: Invalid attribute perm")
        return drifting(self, exported, precision)

    monkeypatch.setattr(OnnxRuntimeBackend, "load_graph", refuse_the_second)
    row = _run(archs, "onnxruntime", "bert", tmp_path)
    assert (row["dynamic_status"], row["dynamic_route"]) == ("fail_accuracy", "hf-onnx-dynamic")
    assert row["dynamic_message"].startswith("torch-onnx-legacy-dynamic: fail_to_run; at input_ids 1x20: max |diff|")


def test_openvino_tries_its_own_traced_graph_where_torch_export_fails(archs, tmp_path, monkeypatch):
    """OpenVINO's frontend traces the module with every axis dynamic: where torch.export can't make a dynamic graph,
    that graph is checked at the three shapes (a pass, not a static fallback)."""
    def refuse(*_):
        raise RuntimeError("GuardOnDataDependentSymNode: Could not guard on data-dependent expression Eq(u0, 1)")

    monkeypatch.setitem(routes.ROUTE_EXPORTERS, "hf-openvino-dynamic", refuse)
    row = _run(archs, "openvino", "bert", tmp_path)
    assert (row["dynamic_status"], row["dynamic_route"]) == ("pass", "ov-from-torch"), row["dynamic_message"]
    assert row["dynamic_message"].startswith("hf-openvino-dynamic: export failed (RuntimeError: GuardOnDataDependent")


def test_audio_is_exported_at_a_longer_length_and_checked_at_its_own_too(archs, tmp_path):
    row = _run(archs, "onnxruntime", "wav2vec2", tmp_path)
    assert row["dynamic_status"] == "pass", row["dynamic_message"]
    # 16000 samples x 2.5 at the export and batch 1, the case's own at batch 3
    assert row["dynamic_shapes"] == ("input_values 2x40000 (export) pass; input_values 1x40000 pass; "
                                     "input_values 3x16000 pass")


def test_a_model_that_takes_no_longer_input_keeps_its_length_and_says_so(archs, tmp_path):
    """bert with 12 positions can't take 20, 16 or 24 tokens (torch itself raises): it is exported at its own 8, and
    the longer shape keeps 8 tokens at batch 3, the row saying why: the graph is judged on what the model can take."""
    import dataclasses

    from hwcov.backends import dynamic as dynamic_check

    bert = generate.case_for(archs["bert"])
    short = dataclasses.replace(bert, config_overrides={**(bert.config_overrides or {}), "max_position_embeddings": 12})
    row = dynamic_check.check(get_backend("onnxruntime"), short, tmp_path, "hf-onnx")
    assert row["dynamic_status"] == "pass", row["dynamic_message"]
    last = row["dynamic_shapes"].split("; ")[-1]
    assert last.startswith("input_ids 3x8 (the model takes no other length: ") and last.endswith(") pass"), last


def test_a_model_that_refuses_the_longer_length_is_exported_at_a_whole_multiple_it_takes(archs, tmp_path):
    """bert with 16 positions refuses 20 tokens (8 x 2.5) but takes 16: the export is at twice the case's length
    (as qwen3_asr's audio, whose frames must be a multiple of its window), its own checked at batch 3."""
    import dataclasses

    from hwcov.backends import dynamic as dynamic_check

    bert = generate.case_for(archs["bert"])
    short = dataclasses.replace(bert, config_overrides={**(bert.config_overrides or {}), "max_position_embeddings": 16})
    row = dynamic_check.check(get_backend("onnxruntime"), short, tmp_path, "hf-onnx")
    assert row["dynamic_status"] == "pass", row["dynamic_message"]
    assert row["dynamic_shapes"] == "input_ids 2x16 (export) pass; input_ids 1x16 pass; input_ids 3x8 pass"


def test_a_shape_the_torch_model_itself_fails_at_is_not_the_runtimes_failure(archs, tmp_path, monkeypatch):
    """tvp's positional grid is built for batch 1 only: where the torch model raises at a shape there is nothing to
    judge the graph against, so that shape is not_applicable (and the row, when every other shape is), named as the
    model's own failure, never the runtime's fail_to_run."""
    from hwcov.backends import dynamic as dynamic_check
    from hwcov.models import signal

    real = signal.reference_of

    def batch_two_only(built, case, batch):
        if batch != dynamic.EXPORT_BATCH:
            raise RuntimeError(f"shape '[{batch}, 1, 4, 64]' is invalid for input of size 256")
        return real(built, case, batch)

    monkeypatch.setattr(signal, "reference_of", batch_two_only)
    row = dynamic_check.check(get_backend("onnxruntime"), generate.case_for(archs["bert"]), tmp_path, "hf-onnx")
    assert row["dynamic_status"] == "not_applicable", row
    assert row["dynamic_shapes"].startswith("input_ids 2x20 (export) pass; batch 1 not_applicable; batch 3 "
                                            "not_applicable"), row["dynamic_shapes"]
    assert "the torch model itself fails at batch 1: RuntimeError: shape '[1, 1, 4, 64]'" in row["dynamic_message"]


def test_the_models_outputs_at_each_shape_are_kept_beside_the_graph(archs, tmp_path, monkeypatch):
    """The torch outputs at the three shapes are kept in the dynamic graph's folder (its key names the weights): a
    rerun, or another runtime checking the same graph, reads them instead of running the model again, and judges
    alike; a file cut short is made again."""
    from hwcov.models import signal

    real, batches = signal.reference_of, []

    def counted(built, case, batch):
        batches.append(batch)
        return real(built, case, batch)

    monkeypatch.setattr(signal, "reference_of", counted)
    first = _run(archs, "onnxruntime", "bert", tmp_path)
    assert sorted(batches) == [1, 1, 2, 3]  # the forward's own (batch 1), then the three shapes
    kept = sorted(tmp_path.glob("bert/hf-onnx-dynamic-*/references/*.npz"))
    assert len(kept) == 3
    batches.clear()
    again = _run(archs, "onnxruntime", "bert", tmp_path)
    assert batches == [1]  # the forward's only
    assert (again["dynamic_status"], again["dynamic_shapes"]) == (first["dynamic_status"], first["dynamic_shapes"])
    assert again["dynamic_max_abs_diff"] == first["dynamic_max_abs_diff"]
    kept[0].write_bytes(kept[0].read_bytes()[:50])
    batches.clear()
    assert _run(archs, "onnxruntime", "bert", tmp_path)["dynamic_status"] == "pass"
    assert len(batches) == 2  # the forward's, and the one cut short


def test_an_axis_named_by_a_number_is_fixed_not_symbolic(tmp_path):
    """torch.onnx names an axis by its size expression; one that resolved to a number (a VLM whose per-image list
    baked the image count in: llava's pixel_values axis 0 is named '2') loads in ONNX Runtime at any size but runs
    only at that one, so it is a fixed axis: another size is refused as static_only, not run into a Reshape error."""
    import types

    import onnx
    import torch
    from onnx import TensorProto, helper

    inputs = [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["2", 3, "s4", "s4"]),
              helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["s72", "s70"])]
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    graph = helper.make_graph([helper.make_node("Identity", ["pixel_values"], ["y"])], "g", inputs, [out])
    onnx.save(helper.make_model(graph), str(tmp_path / "model.onnx"))
    declared = dynamic.declared_shapes(types.SimpleNamespace(directory=tmp_path))
    assert declared == {"pixel_values": [2, 3, "s4", "s4"], "input_ids": ["s72", "s70"]}
    feed = {"pixel_values": torch.zeros(1, 3, 8, 8), "input_ids": torch.zeros(1, 20, dtype=torch.long)}
    assert dynamic.fixed_axis_conflict(declared, feed) == "pixel_values axis 0 is fixed at 2, fed 1"
    assert dynamic.fixed_axis_conflict(declared, {**feed, "pixel_values": torch.zeros(2, 3, 5, 5)}) == ""


def test_a_mode_that_overruns_the_case_ends_as_its_timeout_and_the_forwards_verdict_stands(tmp_path, monkeypatch):
    """A mode still running near the case's deadline is stopped MODE_RESERVE_S before it, so the case returns the
    forward's row (a mode's `timeout`) instead of the runner killing the whole case; the next mode, with no time
    left, is skipped."""
    import time

    from hwcov.backends import dynamic as dynamic_check
    from hwcov.backends import exported
    from hwcov.core import limits

    monkeypatch.setattr(limits, "_case", {"deadline": None, "budget": None})  # this test's case only
    monkeypatch.setattr(dynamic_check, "check", lambda *a: time.sleep(600))
    limits.start_case(exported.MODE_RESERVE_S + 2)
    started = time.monotonic()
    fields = exported.check_modes(get_backend("onnxruntime"), None, tmp_path, "hf-onnx")
    assert time.monotonic() - started < 10
    assert fields["dynamic_status"] == "timeout", fields
    assert fields["dynamic_message"].endswith("(the forward's verdict stands)")
    assert fields["generate_status"] == "skipped"
