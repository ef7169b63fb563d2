"""The `dynamic` mode of an exported runtime: after the fp32 forward passed, does a graph with symbolic axes run,
and match, at shapes other than the one it was exported with? (issue #25)

The verdict goes into the forward's row as its dynamic_* columns, never into its status: the forward's pass stands
on its own. Outcomes (dynamic_status):
  pass            the dynamic graph matched the torch model's fp32 outputs at every shape checked
  static_only     the graph fixes an input axis at its export size (the exporter specialized it, or the dynamic
                  export failed and only the static graph exists): it can't be fed another shape
  shape_mismatch  it ran at another shape but an output's shape differs from the model's there
  fail_accuracy   it ran at another shape, outside the runtime's fp32 tolerance
  fail_to_run     the runtime raised at another shape (or at its export shape)
  skipped         the forward used most of the case's time budget: the check would risk turning it into a timeout
  not_applicable  the torch model itself fails at every other shape (tvp takes batch 1 only): nothing to judge
Every row says which shapes were checked and what each gave (dynamic_shapes), and which graph (dynamic_route): a
VLM's may be a pair (`hf-onnx-split`: its vision encoder run per image, its language part fed the features), judged
on the outputs the pair returns (hwcov.export.split.narrow).
"""
from __future__ import annotations

from hwcov.backends import validate
from hwcov.core.limits import case_time_left
from hwcov.export import dynamic, split
from hwcov.export import routes as export

ORDER = ("static_only", "shape_mismatch", "fail_to_run", "fail_accuracy")  # the row's status: the first found
MIN_BUDGET_LEFT = 0.6  # of the case's timeout, still unspent when the forward passed
SECOND_BUDGET_LEFT = 0.5  # ... and when the first dynamic graph is done, to try the second (on a loaded machine an
# export and three shapes of a large tiny model take over 100 s: a mode must not turn the forward's pass into a timeout)


PROBE = " (length only, not counted)"  # the label of check()'s probe shape


def _fields(status: str, route: str, shapes: list[tuple], message: str, probe: tuple | None = None) -> dict:
    diffs = [d for _, _, d, _ in shapes if d == d and d != float("inf")]
    return {"dynamic_status": status, "dynamic_route": route,
            "dynamic_shapes": "; ".join(f"{label} {st}" for label, st, _, _ in shapes + ([probe] if probe else [])),
            "dynamic_max_abs_diff": max(diffs) if diffs else float("nan"), "dynamic_message": message[:2000]}


class ModelRefuses(Exception):
    """The torch model itself fails at a shape (tvp's positional grid takes batch 1 only): there is no reference to
    judge a graph against there, and the runtime is not blamed for it."""


def _reference(built, raw, case, batch: int, kept_in):
    from hwcov.models.build import Built
    from hwcov.models.signal import kept_reference_of

    try:
        return kept_reference_of(Built(built.config, built.model, raw), case, batch, kept_in)
    except Exception as exc:  # the model's own failure, named as such
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise ModelRefuses(f"the torch model itself fails at batch {batch}: {type(exc).__name__}: {first}") from exc


def _at(built, case, shape, transformers_format: bool, kept_in) -> tuple[dict, dict, dict, str]:
    """(the model's inputs at `shape`, what the graph is fed, the torch model's outputs there, '' or a note): where the
    torch model itself refuses the longer lengths (a vision-audio model with fixed frames, a positional table), the
    shape keeps the case's lengths at its batch and says so -- the graph is not blamed for what the model can't take;
    where it refuses the batch too, ModelRefuses. The torch outputs are kept in `kept_in` (signal.kept_reference_of)."""
    import dataclasses

    try:
        raw, fed = dynamic.feed_at(built, case.input_spec, shape, transformers_format)
        return raw, fed, _reference(built, raw, case, shape.batch, kept_in), ""
    except Exception as exc:  # noqa: BLE001 - the model's own refusal of this length
        if shape.scale == 1:
            raise
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:120]
        kept = dataclasses.replace(shape, scale=1.0)
        raw, fed = dynamic.feed_at(built, case.input_spec, kept, transformers_format)
        reference = _reference(built, raw, case, shape.batch, kept_in)
        return raw, fed, reference, f" (the model takes no other length: {type(exc).__name__}: {first})"


def _verdict(infer, declared, tol, reference_for, raw, fed, label) -> tuple:
    """(label, status, max |diff|, message) of the graph fed `fed` (the model's inputs `raw`) at one shape."""
    conflict = dynamic.fixed_axis_conflict(declared, fed)
    if conflict:
        return label, "static_only", float("nan"), conflict
    reference = reference_for(raw)
    try:
        result = infer(fed)
    except dynamic.FixedAxis as exc:  # a split's language graph, fed what the host made of the inputs
        return label, "static_only", float("nan"), str(exc)
    except Exception as exc:  # noqa: BLE001 - the runtime's error at this shape is the verdict
        return label, "fail_to_run", float("nan"), f"{type(exc).__name__}: {str(exc)[:400]}"
    mismatch = [f"'{k}' {tuple(result[k].shape)} vs {tuple(reference[k].shape)}" for k in sorted(reference)
                if k in result and tuple(result[k].shape) != tuple(reference[k].shape)]
    if mismatch:
        return label, "shape_mismatch", float("inf"), "output shape " + ", ".join(mismatch[:3])
    verdict = validate.compare(reference, result, tol)
    return label, verdict.status, verdict.max_abs_diff, verdict.message


def _judge(backend, case, built, exported, shapes) -> tuple[str, list, tuple | None]:
    """(status, [(shape, status, max |diff|, message)], the probe or None) of one graph at every shape of the plan.
    Where a shape failed, the export's batch at the other lengths is checked too, as a probe that doesn't count toward
    the verdict: it tells a graph fixed in its batch (a VLM's image count) but free in its length from one fixed in
    both."""
    import dataclasses

    from hwcov.models.build import Built
    from hwcov.models.signal import kept_reference_of

    pair = exported.manifest.get("format") == split.FORMAT
    declared = {} if pair else dynamic.declared_shapes(exported)
    transformers_format = exported.manifest.get("format") == "transformers"
    narrow = split.narrow if pair else dict
    try:
        infer = _load_pair(backend, built, exported) if pair else backend.load_graph(exported, "fp32")[0]
    except Exception as exc:  # noqa: BLE001 - a graph the runtime can't load (mamba2's traced one) fails, at its shape
        label = dynamic.describe(built.feed) + " (export)"
        return "fail_to_run", [(label, "fail_to_run", float("nan"), f"{type(exc).__name__}: {str(exc)[:400]}")], None
    tol = validate.tolerance(backend.hardware, "fp32", case.model_type)
    kept_in = exported.directory / "references"  # the graph's folder names the model: its outputs are kept there
    done = []
    for shape in shapes:
        if shape.export:
            raw, fed, reference, kept = built.feed, exported.feed, None, ""
        else:
            try:
                raw, fed, reference, kept = _at(built, case, shape, transformers_format, kept_in)
            except ModelRefuses as exc:
                done.append((f"batch {shape.batch}", "not_applicable", float("nan"), str(exc)))
                continue
        label = dynamic.describe(raw) + (" (export)" if shape.export else "") + kept
        done.append(_verdict(infer, declared, tol, lambda r, known=reference: narrow(
            known if known is not None else kept_reference_of(Built(built.config, built.model, r), case, shape.batch,
                                                              kept_in)), raw, fed, label))
    failed = [d for d in done if d[1] != "pass"]
    if not failed:
        return "pass", done, None
    worst = min(failed, key=lambda d: ORDER.index(d[1]) if d[1] in ORDER else len(ORDER))
    probed = None
    try:  # the probe informs; it never decides the row, nor breaks it
        probe = dataclasses.replace(shapes[0], scale=shapes[-1].scale, export=False)
        raw, fed, reference, kept = _at(built, case, probe, transformers_format, kept_in)
        if not kept and dynamic.describe(raw) != dynamic.describe(built.feed):  # lengths the model took
            probed = _verdict(infer, declared, tol, lambda _r: narrow(reference), raw, fed,
                              dynamic.describe(raw) + PROBE)
    except Exception:  # noqa: BLE001, S110 - inputs the synthesizer can't make at that shape: no probe
        pass
    return worst[1], done, probed


def _load_pair(backend, built, exported):
    """raw inputs -> named outputs through a split export's two graphs on the runtime (hwcov.export.split.run)."""
    graphs = {}
    for part in split.PARTS:
        graph = export.Exported(exported.route, exported.exporter, exported.directory / part, {}, exported.fresh)
        graphs[part] = backend.load_graph(graph, "fp32")[0], dynamic.declared_shapes(graph)

    def check(fed):
        conflict = dynamic.fixed_axis_conflict(graphs["language"][1], fed)
        if conflict:
            raise dynamic.FixedAxis(conflict)
    return lambda raw: split.run(built.model, raw, graphs["vision"][0], graphs["language"][0], check)


def _aside(route: str, what: str) -> str:
    """How a row mentions a graph it tried besides the one it reports: no '; ', which separates a message's parts."""
    return f"{route}: {what}".replace("; ", ", ")[:300]


def check(backend, case, export_dir, static_route: str) -> dict:
    """The dynamic_* fields of a case whose fp32 forward passed on `backend` via `static_route`: the first of the
    family's dynamic graphs (dynamic.ROUTE; for a VLM that takes precomputed image features, the split pair,
    hwcov.export.split; then SECOND_ROUTE) that passes at every shape; where none does, the first that exported, with
    what the others gave; where none exported, the static graph, never counted dynamic."""
    from hwcov.models.build import build_case

    if backend.family not in dynamic.ROUTE:  # a runtime without the mode gets no columns, whatever the time
        return {}
    left, budget = case_time_left()
    if left < MIN_BUDGET_LEFT * budget:
        return _fields("skipped", "", [], f"the forward used {budget - left:.0f} s of the case's {budget:.0f} s: "
                                          "no room for another export")
    built, scale = dynamic.export_built(build_case(case, dynamic.EXPORT_BATCH), case.input_spec)
    shapes, judged, asides, cause = dynamic.plan(case.input_spec, export_scale=scale), [], [], ""
    # a VLM's vision encoder and language part apart, where the whole graph fixes its image count: before the
    # tracer's graph, which fixes it too
    pair = [split.ROUTE[backend.family]] if split.splits(built.model, built.feed) else []
    for route in (dynamic.ROUTE[backend.family], *pair, dynamic.SECOND_ROUTE[backend.family]):
        if judged or cause:  # a second graph costs another export: only while the case has the time
            left, budget = case_time_left()
            if left < SECOND_BUDGET_LEFT * budget:
                asides.append(_aside(route, "not tried, the case's time was spent"))
                break
        try:
            target = split.prepared(built, case.input_spec, scale) if route in pair else built
        except Exception as exc:  # noqa: BLE001 - the host's part (features, positions) failed on the model
            cause = cause or f"{type(exc).__name__}: {exc}"[:400]
            asides.append(_aside(route, f"export failed ({type(exc).__name__}: {str(exc)[:160]})"))
            continue
        try:
            exported = export.export(target, case, dynamic.EXPORT_BATCH, route, export_dir)
        except export.ExportError as exc:
            cause = cause or exc.message[:400]
            asides.append(_aside(route, f"export failed ({exc.message[:200]})"))
            continue
        status, done, probe = _judge(backend, case, built, exported, shapes)
        traced = exported.manifest.get("vision_traced_because")
        if traced:  # the pair's vision graph is a tracer's (hwcov.export.split.export_pair): the row says why
            asides.append(_aside(route, f"vision encoder traced at one image, torch.export refused it ({traced})"))
        if status == "pass":
            return _fields("pass", route, done, "; ".join(asides))
        judged.append((route, status, done, probe))
        asides.append(_aside(route, status))
    if judged:
        route, status, done, probe = judged[0]
        worst = next(d for d in done if d[1] == status)
        others = [a for a in asides if not a.startswith(route + ":")]
        return _fields(status, route, done, "; ".join(others + [f"at {worst[0]}: {worst[3]}"]), probe)
    built = build_case(case, 1)  # the graph the forward passed with: what a user of this model is left with
    exported = export.export(built, case, 1, static_route, export_dir)
    note = dynamic.fallback_note(cause, static_route) + "".join(f" ({a})" for a in asides[1:])
    status, done, probe = _judge(backend, case, built, exported, dynamic.plan(case.input_spec, export_batch=1))
    route = exported.route + " (static fallback)"
    if status == "pass":
        return _fields("pass", route, done, note)
    worst = next(d for d in done if d[1] == status)
    return _fields(status, route, done, f"{note}; at {worst[0]}: {worst[3]}", probe)
