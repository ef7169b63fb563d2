"""An export's key holds the code that made its graph: a change re-exports exactly the routes it affects (#27)."""
from hwcov.cases import generate
from hwcov.export import provenance
from hwcov.export import routes as export
from hwcov.models.build import build_case


def code_of(route: str) -> dict:
    return provenance.reachable(*code_entries(route), stop=(export.export,))


def test_a_route_reaches_the_helpers_it_runs_and_not_the_caches_bookkeeping():
    legacy = code_of("torch-onnx-legacy")
    # imported inside its body, under functools.cache, in another module: still found
    assert {"hwcov.export.onnx_symbolics.register", "hwcov.export.onnx_symbolics.expm1",
            "hwcov.export.routes._flat", "hwcov.models.outputs.flatten"} <= set(legacy)
    assert not {"hwcov.export.routes.export", "hwcov.export.routes.bound_cache"} & set(legacy)
    assert set(code_of("hf-onnx")) == {"hwcov.export.routes._hf.<locals>.run"}
    assert set(legacy) <= set(code_of("ov-from-onnx"))  # a conversion depends on the graphs it converts
    # one function, different options: different graphs, different digests
    assert len({export.route_code(r) for r in ("hf-onnx", "hf-onnx-dynamic", "hf-openvino")}) == 3


def test_a_changed_helper_changes_exactly_the_routes_that_call_it(monkeypatch):
    before = {r: provenance.digest(*code_entries(r), stop=(export.export,)) for r in export.ROUTE_EXPORTERS}
    monkeypatch.setattr(export, "_flat", export._refuse_baked_inputs)  # as if _flat's code had been edited
    after = {r: provenance.digest(*code_entries(r), stop=(export.export,)) for r in export.ROUTE_EXPORTERS}
    changed = {r for r in before if before[r] != after[r]}
    # the VLM split's routes too: their vision encoder falls back to the tracer's graph (hwcov.export.split)
    assert changed == {"torch-onnx-legacy", "torch-onnx-legacy-dynamic", "ov-from-torch", "ov-from-onnx",
                       "hf-onnx-split", "hf-openvino-split"}, changed


def code_entries(route: str) -> list:
    return [export.ROUTE_EXPORTERS[r] for r in (route, *export.CONVERTS.get(route, ()))]


def test_an_export_made_by_older_route_code_is_made_again_and_other_routes_keep_theirs(archs, tmp_path, monkeypatch,
                                                                                        export_calls):
    case = generate.case_for(archs["bert"])
    built = build_case(case, 1)
    for route in ("hf-onnx", "torch-onnx-legacy"):
        assert export.export(built, case, 1, route, tmp_path).fresh
    real = export.route_code
    monkeypatch.setattr(export, "route_code", lambda r: "edited" if r == "torch-onnx-legacy" else real(r))
    assert export.export(built, case, 1, "torch-onnx-legacy", tmp_path).fresh  # made again
    assert not export.export(built, case, 1, "hf-onnx", tmp_path).fresh  # untouched: read from the cache
    assert export_calls["torch-onnx-legacy"] == 2 and export_calls["hf-onnx"] == 1
    assert len(list((tmp_path / "bert").glob("torch-onnx-legacy-*"))) == 1  # the stale one pruned
