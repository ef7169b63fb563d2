"""The exported backends' shared run loop: how a row reports routes that all failed, how outputs are named."""
import torch
from transformers.modeling_outputs import BaseModelOutputWithPooling

from hwcov.backends.exported import name_by_graph, named_outputs, routes_agree


def acc(diff):
    return {"status": "fail_accuracy", "max_abs_diff": diff}


def test_routes_agreeing_on_the_same_wrong_output_point_at_the_reference():
    assert routes_agree([acc(2.0184707), acc(2.0184708), acc(2.0184706)])
    assert not routes_agree([acc(2.0), acc(0.5)])  # they disagree: a route's own error
    assert not routes_agree([acc(2.0)])  # one route proves nothing
    assert not routes_agree([acc(2.0), {"status": "fail_to_run", "max_abs_diff": None}])
    assert not routes_agree([acc(float("inf")), acc(float("inf"))])  # shape or NaN: not a value disagreement


class SpecRunner:
    """transformers' runner rebuilds outputs by position into the class's field order."""

    def unflatten(self, flat):
        return BaseModelOutputWithPooling(last_hidden_state=flat[0], pooler_output=flat[1])


def test_outputs_are_named_by_the_graph_when_its_names_match_the_spec():
    # aria sets pooler_output after building the output: the graph returns it last, the spec expects it second.
    flat = [torch.zeros(1, 16, 8), torch.ones(1, 4, 8)]
    graph_order = name_by_graph(SpecRunner(), ["last_hidden_state", "pooler_output"])
    assert {k: v.shape for k, v in named_outputs(graph_order.unflatten(flat)).items()} == \
        {"last_hidden_state": (1, 16, 8), "pooler_output": (1, 4, 8)}
    swapped = name_by_graph(SpecRunner(), ["pooler_output", "last_hidden_state"])
    assert {k: v.shape for k, v in named_outputs(swapped.unflatten(flat)).items()} == \
        {"pooler_output": (1, 16, 8), "last_hidden_state": (1, 4, 8)}
    # graph names that name something else (positional ones) leave the spec's rebuild in charge
    positional = name_by_graph(SpecRunner(), ["output_0", "output_1"])
    assert list(named_outputs(positional.unflatten(flat))) == ["last_hidden_state", "pooler_output"]


def test_export_cache_bound_deletes_least_recently_used_exports_first(tmp_path):
    import os

    from hwcov.export import routes as export

    folders = []
    for i, model in enumerate(["bert", "gpt2", "vit", "t5"]):
        folder = tmp_path / model / f"hf-onnx-b1-{i:016x}"
        folder.mkdir(parents=True)
        (folder / "model.onnx").write_bytes(b"x" * 1000)
        (folder / export.MANIFEST).write_text("{}")
        os.utime(folder / export.MANIFEST, (1000 + i, 1000 + i))  # bert least recently used
        folders.append(folder)
    (tmp_path / "vit" / "legacy-b1-0.failed.json").write_text("{}")
    os.utime(folders[1] / export.MANIFEST, (5000, 5000))  # gpt2 used last
    deleted = export.bound_cache(tmp_path, keep=folders[0], limit=2100)
    # bert is the oldest but was just made (keep); vit then t5 go, gpt2 (used last) stays
    assert deleted == [folders[2], folders[3]]
    assert folders[0].exists() and folders[1].exists() and not folders[2].exists()
    assert (tmp_path / "vit" / "legacy-b1-0.failed.json").exists()  # failure records are not exports
    assert export.bound_cache(tmp_path, keep=folders[0], limit=10**6) == []
