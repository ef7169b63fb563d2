"""The `generate` mode's model, reference and loop: greedy decoding with a KV cache, in torch and on an exported graph.

What a user of an exported decoder runs is not one forward but a prefill and then one decode step per new token, the
KV cache carried from each step to the next. The architecture's generative head class (causal-LM, else seq2seq) is
built from the case's tiny config (same seed, same redraws as the forward's model); its torch greedy decoding of STEPS
tokens, with its own cache, is the reference: the token ids and each step's logits. The export is transformers.exporters'
export_for_generation (prefill and decode graphs, symbolic axes so the cache can grow; OpenVINO's cache kept as
explicit inputs, not internal state, so the loop carries it as on every runtime). The loop below feeds each graph the
runtime's own previous token and the cache the runtime's previous step returned: a decode graph that ignores or
corrupts its cache moves the logits even where a random model's argmax would not.
"""
from __future__ import annotations

from dataclasses import dataclass, field

STEPS = 8
PROMPT_LEN = 8
# backend family -> its route (onnxruntime-web runs the ONNX graphs onnxruntime runs: one export, both)
ROUTE = {"onnxruntime": "hf-onnx-generate", "openvino": "hf-openvino-generate", "browser": "hf-onnx-generate"}
FLAGS = ("use_cache", "return_dict", "output_attentions", "output_hidden_states")  # not graph inputs


def lm_class(model_type: str) -> str:
    """The architecture's generative head class: its causal-LM head, else its seq2seq head ('' when it has neither:
    no generate mode). Where both exist (bart's decoder as BartForCausalLM) the causal head is kept, as before."""
    return _head(model_type)[0]


def _head(model_type: str) -> tuple[str, bool]:
    """(the generative head class, whether it is an encoder-decoder's seq2seq head)."""
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES,
    )

    for mapping, seq2seq in ((MODEL_FOR_CAUSAL_LM_MAPPING_NAMES, False), (MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES,
                                                                         True)):
        found = mapping.get(model_type, "")
        found = found if isinstance(found, str) else (found[0] if found else "")
        if found:
            return found, seq2seq
    return "", False


@dataclass
class LmCase:
    """The generative model and its prompt, shaped like a built case (config, model, feed) for the export cache."""
    config: object
    model: object
    feed: dict = field(default_factory=dict)
    seq2seq: bool = False  # an encoder-decoder's seq2seq head (not by its config: pegasus' causal head shares it)


def build(case) -> LmCase:
    import torch

    from hwcov.models import tiny

    torch.manual_seed(0)
    head, seq2seq = _head(case.model_type)
    prompt = None
    if case.checkpoint:  # a user's own: its trained weights in the head, its tokenizer's words as the prompt
        from hwcov.models import checkpoints

        config, model, prompt = checkpoints.generative(case, head)
    else:
        config = tiny.tiny_config(case.model_type, case.config_overrides)
        if not seq2seq and getattr(config, "is_decoder", None) is False:
            # an encoder family's causal head (BertLMHeadModel, RobertaForCausalLM, reformer's LM head) is a
            # decoder only with is_decoder set, as its checkpoints for generation have it: causal attention and a
            # KV cache (without it bert's head attends both ways and returns no cache; reformer's refuses to build)
            config.is_decoder = True
        model = tiny.build_model(head, config)
        # the head may hold only part of the case's model: a stale redraw entry is build_case's error, not this one's
        tiny.redraw(model, (case.config_overrides or {}).get(tiny.REDRAW), strict=False)
    model.eval()
    # speech-to-text heads of decoder-only audio LLMs (qwen2_audio, glmasr, granite_speech ...) sit in the seq2seq
    # mapping: their decoder is the LM itself, fed no decoder_input_ids
    seq2seq = seq2seq and bool(getattr(config, "is_encoder_decoder", False))
    gen = torch.Generator().manual_seed(0)
    vocab = int(getattr(config.get_text_config(), "vocab_size", 0) or 0)
    if vocab < 8:
        raise ValueError(f"{case.model_type}: no vocab_size in its text config: can't make a prompt")
    ids = prompt if prompt is not None else torch.randint(3, vocab, (1, PROMPT_LEN), generator=gen)
    feed = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    if seq2seq:
        # the decoder starts from its start token and one forced token (as whisper's task tokens are): a decode
        # step captured on a one-token cache would have torch.export fix the cache's length at 1
        start = model.generation_config.decoder_start_token_id
        start = start if start is not None else getattr(config, "decoder_start_token_id", None)
        # a composite config (an audio LLM's) keeps its token ids in its text config only
        start = start if start is not None else (getattr(config.get_text_config(), "pad_token_id", None) or 0)
        model.generation_config.decoder_start_token_id = start  # generate() refuses an encoder-decoder without one
        feed["decoder_input_ids"] = torch.tensor([[start, int(ids[0, 0])]])
    return LmCase(config, model, feed, seq2seq)


@dataclass
class Generated:
    tokens: list[int]
    logits: list  # per step: the last position's logits (numpy, vocab)


def reference(lm: LmCase, prefill_kwargs: dict, decode_kwargs: dict, steps: int = STEPS) -> Generated:
    """torch's greedy generation with its own KV cache, through the same loop the runtimes take: plain argmax,
    without generate()'s logits processors (a config's forced_eos_token_id would force EOS at the last step of
    torch's generate() alone). Run on copies: torch fills the cache objects it is handed."""
    import copy

    import torch

    def forward(**kwargs):
        with torch.no_grad():
            return lm.model(**kwargs)

    return greedy(forward, forward, copy.deepcopy(prefill_kwargs), copy.deepcopy(decode_kwargs), steps)


def stage_inputs(lm: LmCase) -> tuple[dict, dict]:
    """The prefill's and the first decode step's forward kwargs, as generate() makes them (transformers captures
    them from a real generate call), output flags removed."""
    from transformers.exporters.utils import decompose_prefill_decode

    try:
        stages = decompose_prefill_decode(lm.model, dict(lm.feed))
    except RuntimeError as exc:  # its message names the inputs only: the row should say why generate() refused
        if exc.__cause__ is None:
            raise
        raise RuntimeError(f"{exc} <- {type(exc.__cause__).__name__}: {exc.__cause__}"[:1500]) from exc.__cause__
    return tuple({k: v for k, v in stages[name][1].items() if k not in FLAGS} for name in ("prefill", "decode"))


def uses_cache(lm: LmCase, prefill_kwargs: dict, decode_kwargs: dict) -> bool:
    """generate() hands the decode step a KV cache and the model's prefill returns one (BERT-like LM heads outside
    decoder mode take the cache and return none: each step recomputes the prefix)."""
    import copy

    import torch
    from transformers.cache_utils import Cache

    if not any(isinstance(v, Cache) for v in decode_kwargs.values()):
        return False
    with torch.no_grad():
        out = lm.model(**copy.deepcopy(prefill_kwargs))
    return any(isinstance(out[k], Cache) for k in out.keys())


SPLIT_PREFILL = ("language_model", "lm_head")  # a multimodal model's prefill as transformers.exporters splits it


def split_prefill_inputs(lm: LmCase, prefill_kwargs: dict) -> dict:
    """What a multimodal model's prefill hands its language model for this prompt (the merged token embeddings,
    positions: rope's 3-axis ones too), captured from the torch model's own prefill: the exporter exports the
    language model and lm_head as graphs and leaves the embedding and image/audio merge to the caller."""
    import copy

    import torch
    from transformers.cache_utils import Cache
    from transformers.exporters.utils import decompose_multimodal

    captured = decompose_multimodal(lm.model, copy.deepcopy(prefill_kwargs))["language_model"][1]
    # the empty cache too: a sliding-window layer's graph takes its window as a cache input (gemma3)
    return {k: v for k, v in captured.items() if torch.is_tensor(v) or isinstance(v, Cache)}


def cache_key(mapping) -> str:
    """The key holding the KV cache (a transformers Cache) in a forward's kwargs or outputs."""
    from transformers.cache_utils import Cache

    found = [k for k in mapping.keys() if isinstance(mapping[k], Cache)]
    if len(found) != 1:
        raise ValueError(f"expected one KV cache among {list(mapping.keys())}, found {found}")
    return found[0]


def advance(kwargs: dict, steps: int) -> dict:
    """The first decode step's kwargs moved on by `steps` tokens: positions count on, the attention mask grows."""
    import torch

    out = dict(kwargs)
    for key in ("position_ids", "cache_position", "decoder_position_ids"):
        if torch.is_tensor(out.get(key)):
            out[key] = out[key] + steps
    # the decoder's own mask grows; an encoder-decoder's attention_mask is the encoder's, fixed
    name = "decoder_attention_mask" if "decoder_input_ids" in out else "attention_mask"
    mask = out.get(name)
    if torch.is_tensor(mask) and steps:
        out[name] = torch.cat([mask, mask.new_ones(mask.shape[0], steps)], dim=1)
    return out


def token_key(kwargs: dict) -> str:
    """Where a decode step takes its token: the decoder's input of an encoder-decoder, else input_ids."""
    return "decoder_input_ids" if "decoder_input_ids" in kwargs else "input_ids"


def encoder_case(lm: LmCase) -> LmCase | None:
    """An encoder-decoder's encoder as a case of its own (generate() runs it once, before the prefill: the prefill
    graph takes its outputs), fed the prompt; None for a decoder-only model."""
    if not lm.seq2seq:
        return None
    return LmCase(lm.config, lm.model.get_encoder(), {k: lm.feed[k] for k in ("input_ids", "attention_mask")})


def on_encoder(encoded, stage_kwargs: dict) -> dict:
    """A stage's kwargs with encoder_outputs replaced by `encoded` (what the runtime's encoder graph made of the
    prompt): the runtime's generation starts from the runtime's encoder."""
    return {**stage_kwargs, "encoder_outputs": encoded} if "encoder_outputs" in stage_kwargs else dict(stage_kwargs)


def greedy(prefill, decode, prefill_kwargs: dict, decode_kwargs: dict, steps: int = STEPS,
           carry=lambda cache: cache) -> Generated:
    """Greedy decoding through two runners (kwargs -> a ModelOutput with logits and the cache): the prefill, then one
    decode per further token fed the runtime's own token and `carry` of the cache its previous step returned."""
    import torch

    out = prefill(**prefill_kwargs)
    tokens, logits, chosen = [], [], []
    key, token = cache_key(decode_kwargs), token_key(decode_kwargs)
    # a decode that takes the whole sequence so far, its cache covering all but the new token (cpmant's generate()
    # hands it every id), is fed the prompt and each token chosen; any other, the new token alone
    prefix = decode_kwargs[token][:, :-1]
    for step in range(steps):
        last = out["logits"][:, -1]
        logits.append(last[0].float().numpy())
        tokens.append(int(last.argmax(-1)[0]))
        if step == steps - 1:
            break
        kwargs = advance(decode_kwargs, step)
        chosen.append(last.argmax(-1, keepdim=True).to(decode_kwargs[token].dtype))
        kwargs[token] = torch.cat([prefix, *chosen], dim=-1) if prefix.shape[-1] else chosen[-1]
        kwargs[key] = carry(out[cache_key(out)])
        out = decode(**kwargs)
    return Generated(tokens, logits)


def compare(ref: Generated, got: Generated, judge) -> dict:
    """The generate_* fields: token ids compared exactly, each step's logits by `judge(reference, result) ->
    (within tolerance, max |diff|)` (the runtime's fp32 bound); the first step where either differs."""
    judged = [judge(a, b) if a.shape == b.shape else (False, float("inf")) for a, b in zip(ref.logits, got.logits)]
    diffs = [d for _, d in judged]
    first_token = next((i for i, (a, b) in enumerate(zip(ref.tokens, got.tokens)) if a != b), -1)
    first_logits = next((i for i, (ok, _) in enumerate(judged) if not ok), -1)
    fields = {"generate_tokens": " ".join(map(str, got.tokens)), "generate_steps": len(ref.tokens),
              "generate_max_abs_diff": max(diffs) if diffs else float("nan")}
    if first_token < 0 and first_logits < 0:
        return {**fields, "generate_status": "pass", "generate_message": "",
                "generate_first_divergence": float("nan")}
    first = min(i for i in (first_token, first_logits) if i >= 0)
    what = (f"token {got.tokens[first]} where torch chose {ref.tokens[first]}" if first == first_token
            else f"logits {diffs[first]:.3g} off, outside the runtime's fp32 tolerance (tokens still equal)")
    return {**fields, "generate_status": "fail_accuracy", "generate_first_divergence": first,
            "generate_message": f"diverges at step {first}: {what}; torch chose {' '.join(map(str, ref.tokens))}"}
