"""The `generate` mode of an exported runtime: after the fp32 forward passed, does the architecture's generative head
(causal-LM, else seq2seq), exported as prefill + decode graphs (an encoder-decoder's encoder as a graph of its own),
generate what torch generates when the runtime carries the KV cache? (#25)

The verdict goes into the forward's row as its generate_* columns, never into its status. Outcomes (generate_status):
  pass            every step's token equal to torch's greedy choice and every step's logits within the runtime's fp32
                  tolerance
  fail_accuracy   a token or a step's logits differ: generate_first_divergence names the first such step
  unsupported_op / fail_to_run   the generation export, or a graph at some step, failed (the message says which)
  not_applicable  the export split the model in more than a prefill and a decode, with image or audio encoders (a
                  multimodal generation with its encoders: not run yet), or it has no vocabulary to prompt; a
                  multimodal model prompted with text alone runs its language-model and lm_head graphs as its prefill
  skipped         the forward used most of the case's time budget
Architectures without a generative head get no generate columns at all.
"""
from __future__ import annotations

from hwcov.backends import validate
from hwcov.core.limits import case_time_left
from hwcov.export import dynamic, generation
from hwcov.export import routes as export

MIN_BUDGET_LEFT = 0.5  # of the case's timeout, still unspent when the check starts


def _judge(hardware: str, model_type: str):
    tol = validate.tolerance(hardware, "fp32", model_type)

    def judge(reference, result) -> tuple[bool, float]:
        verdict = validate.compare({"logits": reference}, {"logits": result}, tol)
        return verdict.status == "pass", verdict.max_abs_diff
    return judge


def check(backend, case, export_dir, carry=lambda cache: cache) -> dict:
    """The generate_* fields of a case whose fp32 forward passed on `backend` (carry: what the loop does to the cache
    between steps; a test breaks it)."""
    if backend.family not in generation.ROUTE or not generation.lm_class(case.model_type):
        return {}
    route = generation.ROUTE[backend.family]
    left, budget = case_time_left()
    if left < MIN_BUDGET_LEFT * budget:
        return {"generate_status": "skipped", "generate_route": route,
                "generate_message": f"the earlier stages used {budget - left:.0f} s of the case's {budget:.0f} s"}
    try:
        lm = generation.build(case)
    except ValueError as exc:
        return {"generate_status": "not_applicable", "generate_route": route, "generate_message": str(exc)}
    prefill_kwargs, decode_kwargs = generation.stage_inputs(lm)
    if not generation.uses_cache(lm, prefill_kwargs, decode_kwargs):
        return {"generate_status": "not_applicable", "generate_route": route,
                "generate_message": f"{generation.lm_class(case.model_type)} generates without a KV cache in this "
                                    "config (its forward returns none): each step recomputes the prefix"}
    ref = generation.reference(lm, prefill_kwargs, decode_kwargs)
    try:
        exported = export.export(lm, case, 1, route, export_dir)
    except export.ExportError as exc:
        op = f" [unsupported operator {exc.op}]" if exc.op else ""
        return {"generate_status": "unsupported_op" if exc.op else "fail_to_run", "generate_route": route,
                "generate_message": f"export {exc}{op}"[:2000]}
    components = sorted(_components(exported))
    if components not in (["decode", "prefill"], sorted(("decode", *generation.SPLIT_PREFILL))):
        return {"generate_status": "not_applicable", "generate_route": route,
                "generate_message": f"exported as {', '.join(components)}: a multimodal generation with its "
                                    "encoders, not run yet"}
    try:
        prefill = backend.component_runner(exported, "prefill") if "prefill" in components else \
            _split_prefill(backend, exported, generation.split_prefill_inputs(lm, prefill_kwargs))
        encoder = generation.encoder_case(lm)
        if encoder is not None:  # the runtime's own encoder graph feeds its prefill (and decode) graphs
            encoded = backend.component_runner(_encoder_graph(backend, encoder, case, export_dir), "model")(
                **encoder.feed)  # once: the prompt is the same for every stage
            prefill_kwargs, decode_kwargs = (generation.on_encoder(encoded, kwargs)
                                             for kwargs in (prefill_kwargs, decode_kwargs))
        got = generation.greedy(prefill, backend.component_runner(exported, "decode"), prefill_kwargs,
                                decode_kwargs, carry=carry)
    except Exception as exc:  # noqa: BLE001 - the runtime's error at some step is the verdict
        return {"generate_status": "fail_to_run", "generate_route": route,
                "generate_message": f"{type(exc).__name__}: {str(exc)[:1500]}"}
    return {**generation.compare(ref, got, _judge(backend.hardware, case.model_type)), "generate_route": route}


def _encoder_graph(backend, encoder, case, export_dir):
    """The encoder's graph: with symbolic axes, else (an export torch.export can't keep symbolic: led's global
    attention guards on data) the static one at the prompt's shape, which is all the loop feeds it."""
    try:
        return export.export(encoder, case, 1, dynamic.ROUTE[backend.family], export_dir)
    except export.ExportError:
        return export.export(encoder, case, 1, backend.routes[0], export_dir)


def _split_prefill(backend, exported, language_model_inputs: dict):
    """A multimodal model's prefill on the runtime, given a text prompt: its language-model graph fed the prompt's
    embeddings as torch made them (the exporter leaves that merge to the caller), its lm_head graph on the result;
    the decode graph then runs the whole model a token at a time, as for any decoder."""
    language_model, lm_head = (backend.component_runner(exported, name) for name in generation.SPLIT_PREFILL)
    # the head's one input, as its graph names it: an nn.Linear's `input`, a head module's own (t5gemma2: hidden_states)
    (head_input,) = _component_inputs(exported, "lm_head")

    def prefill(**_prompt):  # the prompt is already in the embeddings
        out = language_model(**language_model_inputs)
        logits = lm_head(**{head_input: out["last_hidden_state"]})
        logits = logits if hasattr(logits, "shape") else next(iter(logits.values()))
        return {"logits": logits, "cache": out[generation.cache_key(out)]}
    return prefill


def _components(exported) -> list[str]:
    import json

    return list(json.loads((exported.directory / "export.json").read_text())["components"])


def _component_inputs(exported, component: str) -> list[str]:
    """The keyword inputs a component's graph was exported with (export.json's metadata), in order."""
    import json

    components = json.loads((exported.directory / "export.json").read_text())["components"]
    return list(components[component]["metadata"]["kwargs"])
