"""The `generate` mode (issue #25): greedy decoding through exported prefill + decode graphs, the KV cache carried by
the runtime, against torch's own greedy generation; a decode whose cache is broken fails, and says at which step."""
import json

import numpy as np
import pytest

from hwcov.backends import generation as generation_check
from hwcov.backends.registry import get_backend
from hwcov.cases import generate
from hwcov.export import generation
from tests.conftest import needs_browser


def _check(archs, hardware: str, model_type: str, export_dir, **kwargs) -> dict:
    """The check as the backend's sweep runs it (a browser provider's graphs: sessions on one page host's page)."""
    backend, case = get_backend(hardware), generate.case_for(archs[model_type])
    if backend.family != "browser":
        return generation_check.check(backend, case, export_dir, **kwargs)
    from hwcov.backends.browser.modes import PageBackend, PageGraphs

    with PageGraphs(hardware, 120) as graphs:
        return generation_check.check(PageBackend(backend, graphs), case, export_dir, **kwargs)


@pytest.mark.parametrize("hardware", ["onnxruntime", "openvino", pytest.param("wasm", marks=needs_browser())])
def test_a_decoder_generates_what_torch_generates_with_the_runtime_carrying_its_cache(archs, tmp_path, hardware):
    """wasm: prefill and decode are two sessions on one page; the cache crosses the page every step."""
    row = _check(archs, hardware, "llama", tmp_path)
    assert row["generate_status"] == "pass", row["generate_message"]
    assert row["generate_route"] == generation.ROUTE[get_backend(hardware).family]
    assert row["generate_steps"] == generation.STEPS
    tokens = row["generate_tokens"].split()
    assert len(tokens) == generation.STEPS and len(set(tokens)) > 1  # llama's tiny model does not repeat one token
    assert 0 < row["generate_max_abs_diff"] < 1e-4


def test_the_reference_is_plain_greedy_decoding_not_generates_forced_eos(archs, tmp_path):
    """bart's causal-LM config forces EOS at generate()'s last step (forced_eos_token_id): a reference taken from
    generate() had every runtime 'diverge' at step 7. The reference is argmax decoding, as the runtimes do."""
    row = _check(archs, "onnxruntime", "bart", tmp_path)
    assert row["generate_status"] == "pass", row["generate_message"]


@pytest.mark.parametrize("hardware", ["onnxruntime", pytest.param("wasm", marks=needs_browser())])
def test_a_decode_whose_cache_is_not_fed_back_fails_generation(archs, tmp_path, hardware):
    """The prefill's cache handed to every decode step (the runtime's own updates dropped): step 1 is still right
    (that is the cache it needs), step 2 on sees a cache one token short and must diverge."""
    first = []

    def stale(cache):
        first.append(cache)
        return first[0]

    row = _check(archs, hardware, "llama", tmp_path, carry=stale)
    assert row["generate_status"] == "fail_accuracy"
    assert row["generate_first_divergence"] == 2
    assert row["generate_message"].startswith("diverges at step 2: ")


def zeroed(cache):
    """A carry that hands the next decode step the cache with every key and value zeroed."""
    for layer in cache.layers:
        layer.keys, layer.values = layer.keys * 0, layer.values * 0
    return cache


def test_a_decode_fed_a_zeroed_cache_fails_at_its_first_step(archs, tmp_path):
    row = _check(archs, "onnxruntime", "gpt2", tmp_path, carry=zeroed)
    assert (row["generate_status"], row["generate_first_divergence"]) == ("fail_accuracy", 1)


def test_a_model_that_returns_no_cache_is_not_judged_as_a_kv_cache_generation(archs, tmp_path):
    row = _check(archs, "onnxruntime", "openai-gpt", tmp_path)
    assert row["generate_status"] == "not_applicable"
    assert "OpenAIGPTLMHeadModel generates without a KV cache" in row["generate_message"]
    assert _check(archs, "onnxruntime", "vit", tmp_path) == {}  # no generative head: no generate columns


def test_a_decode_that_takes_the_whole_sequence_is_fed_the_prompt_and_each_token_chosen():
    """cpmant's generate() hands its decode every id so far (its cache covering all but the last): the loop feeds
    such a decode the prompt plus the tokens chosen, and a one-token decode (gpt2's) the new token alone."""
    import torch
    from transformers.cache_utils import DynamicCache

    def runner(seen):
        def run(input_ids, cache):
            seen.append(input_ids.tolist()[0])
            logits = torch.zeros(1, input_ids.shape[1], 10)
            logits[0, -1, (len(seen) * 3) % 10] = 1.0  # the next token: 3, 6, 9, 2 ...
            return {"logits": logits, "cache": cache}
        return run

    prompt = torch.tensor([[5, 7]])
    for first_decode, expect in (([[5, 7, 0]]), [[5, 7, 3], [5, 7, 3, 6], [5, 7, 3, 6, 9]]), ([[0]], [[3], [6], [9]]):
        seen = []
        generation.greedy(runner(seen), runner(seen), {"input_ids": prompt, "cache": DynamicCache()},
                          {"input_ids": torch.tensor(first_decode), "cache": DynamicCache()}, steps=4)
        assert seen == [[5, 7]] + expect


def test_compare_names_the_first_step_that_differs_in_tokens_or_logits():
    ref = generation.Generated([5, 6, 7], [np.zeros(4), np.zeros(4), np.zeros(4)])

    def judge(a, b):
        d = float(np.max(np.abs(a - b)))
        return d <= 1e-4, d

    same = generation.compare(ref, generation.Generated([5, 6, 7], [np.zeros(4)] * 3), judge)
    assert same["generate_status"] == "pass" and np.isnan(same["generate_first_divergence"])
    drift = generation.compare(ref, generation.Generated([5, 6, 7], [np.zeros(4), np.full(4, 0.1), np.zeros(4)]),
                               judge)
    assert (drift["generate_status"], drift["generate_first_divergence"]) == ("fail_accuracy", 1)
    assert "tokens still equal" in drift["generate_message"]
    other = generation.compare(ref, generation.Generated([5, 9, 7], [np.zeros(4)] * 3), judge)
    assert other["generate_message"].startswith("diverges at step 1: token 9 where torch chose 6")


@pytest.mark.parametrize("hardware", ["onnxruntime", "openvino"])
def test_an_encoder_decoder_generates_from_the_runtimes_own_encoder(archs, tmp_path, hardware):
    """t5 (a seq2seq head only): the encoder exported and run on the runtime, its outputs feeding the prefill and
    decode graphs (openvino: once a segfault in infer() on shared input memory)."""
    row = _check(archs, hardware, "t5", tmp_path)
    assert row["generate_status"] == "pass", row["generate_message"]
    assert 0 < row["generate_max_abs_diff"] < 1e-4


def test_an_encoder_that_exports_only_static_runs_as_its_static_graph(archs, tmp_path, export_calls):
    """led's encoder guards on data (no symbolic export): the loop feeds the encoder one prompt shape, so its static
    graph serves."""
    def refuse(*_):
        raise RuntimeError("GuardOnDataDependentSymNode: Could not guard on data-dependent expression Eq(u0, 1)")

    export_calls.add("hf-onnx-dynamic", refuse)
    row = _check(archs, "onnxruntime", "t5", tmp_path)
    assert row["generate_status"] == "pass", row["generate_message"]
    assert export_calls["hf-onnx-dynamic"] == 1 and export_calls["hf-onnx"] == 1  # tried, then the static encoder


def test_an_encoder_decoder_whose_runtime_encoder_is_off_fails_from_its_first_step(archs, tmp_path, monkeypatch):
    backend = get_backend("onnxruntime")
    graph_runner = backend.component_runner

    def off_encoder(exported, component):
        runner = graph_runner(exported, component)
        if component != "model":  # the prefill and decode graphs stay right
            return runner

        def run(**kwargs):
            out = runner(**kwargs)
            out["last_hidden_state"] = out["last_hidden_state"] * 0.5
            return out
        return run

    monkeypatch.setattr(backend, "component_runner", off_encoder)
    row = generation_check.check(backend, generate.case_for(archs["t5"]), tmp_path)
    assert (row["generate_status"], row["generate_first_divergence"]) == ("fail_accuracy", 0), row


def test_a_causal_head_on_an_encoder_decoder_config_generates_as_a_decoder(archs, tmp_path):
    """PegasusForCausalLM keeps its config's is_encoder_decoder: the head's class, not the config, says whether a
    decoder prompt and an encoder graph are wanted (given one, generate() refused it)."""
    row = _check(archs, "onnxruntime", "pegasus", tmp_path)
    assert row["generate_status"] == "pass", row["generate_message"]


def test_a_decoder_only_audio_llm_in_the_seq2seq_mapping_is_prompted_as_a_decoder(archs):
    """qwen2_audio's head sits in transformers' seq2seq mapping, but its config is no encoder-decoder: its LM is the
    decoder and takes no decoder_input_ids (given them, the exporter's generate() capture failed, and reading a
    start token from its composite config raised AttributeError: no pad_token_id at the top level)."""
    audio_llm = generation.build(generate.case_for(archs["qwen2_audio"]))
    assert not audio_llm.seq2seq and set(audio_llm.feed) == {"input_ids", "attention_mask"}
    t5 = generation.build(generate.case_for(archs["t5"]))  # an encoder-decoder in the same mapping
    assert t5.seq2seq and "decoder_input_ids" in t5.feed


def test_a_generative_head_builds_without_the_tensors_its_cases_redraw_entry_names(archs):
    """mllama's tiny entry redraws its vision layers' tanh gates (issue 24); its generative head, the text LM, has
    none of them: the head builds (it raised "names no tensor", and generation was not_applicable), while the case's
    own model keeps the check that catches a stale entry."""
    from hwcov.models import tiny
    from hwcov.models.build import build_case

    case = generate.case_for(archs["mllama"])
    specs = case.config_overrides[tiny.REDRAW]
    assert type(generation.build(case).model).__name__ == "MllamaForCausalLM"
    with pytest.raises(ValueError, match="names no tensor"):
        tiny.redraw(build_case(case, 1).model, [*specs, {"pattern": "no_such_gate$"}])


def test_an_encoder_familys_causal_head_generates_as_a_decoder_with_its_cache(archs, tmp_path):
    """BertLMHeadModel is a decoder only with is_decoder set (as checkpoints for generation have it): then it attends
    causally and returns a KV cache, and the runtime generates what torch does (without it the head attended both
    ways, returned no cache and was never judged)."""
    assert generation.build(generate.case_for(archs["bert"])).config.is_decoder is True
    row = _check(archs, "onnxruntime", "bert", tmp_path)
    assert row["generate_status"] == "pass", row["generate_message"]


def test_a_multimodal_lm_prompted_with_text_prefills_through_its_language_model_and_lm_head_graphs(archs, tmp_path):
    """qwen2_audio exports as language_model + lm_head + decode (transformers.exporters leaves the embedding merge to
    the caller): the runtime's prefill is those two graphs fed the prompt's embeddings as torch made them, and its
    cache flows into the decode graph -- zeroed on the way, the first decode step diverges."""
    row = _check(archs, "onnxruntime", "qwen2_audio", tmp_path)  # the runners are each runtime's (openvino's alike)
    assert row["generate_status"] == "pass", row["generate_message"]
    assert row["generate_steps"] == generation.STEPS and len(set(row["generate_tokens"].split())) > 1
    export = next(tmp_path.glob("qwen2_audio/hf-onnx-generate-*"))
    assert sorted(json.loads((export / "export.json").read_text())["components"]) == \
        ["decode", "language_model", "lm_head"]

    broken = _check(archs, "onnxruntime", "qwen2_audio", tmp_path, carry=zeroed)
    assert (broken["generate_status"], broken["generate_first_divergence"]) == ("fail_accuracy", 1)


def test_a_split_prefills_head_is_fed_by_the_name_its_graph_declares(archs, tmp_path):
    """t5gemma2's lm_head graph takes `hidden_states` (its head is a module of its own), where an nn.Linear head's
    takes `input`: the prefill feeds the name export.json records, and generation passes."""
    row = _check(archs, "onnxruntime", "t5gemma2", tmp_path)
    export = next(tmp_path.glob("t5gemma2/hf-onnx-generate-*"))
    head = json.loads((export / "export.json").read_text())["components"]["lm_head"]["metadata"]["kwargs"]
    assert list(head) == ["hidden_states"]
    assert row["generate_status"] == "pass", row["generate_message"]


def test_a_generate_the_exporter_cant_capture_says_why(archs):
    """transformers' decompose_prefill_decode names only the inputs it passed; the row carries generate()'s own
    refusal too (xmod's language adapters want a language id), still under its pattern."""
    from hwcov.run import patterns

    with pytest.raises(RuntimeError) as refused:
        generation.stage_inputs(generation.build(generate.case_for(archs["xmod"])))
    message = str(refused.value)
    assert "decompose_prefill_decode failed" in message and "<- ValueError: Input language unknown" in message
    assert patterns.mode_pattern("fail_to_run", message, "generate") == "generation_not_decomposable"
