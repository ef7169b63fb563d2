"""A user's own checkpoint: a local folder (the `save_pretrained` layout) or a hub id found only in the local Hugging
Face cache, described before anything of it runs, then built with its trained weights and its own processor.

Why apart from tiny.py: a random-weight case answers "does this architecture's code path run here"; a checkpoint
answers "does *my model* run here", and trained weights change the answer (fp16 overflow, int8 drift). Nothing here
reaches the network (hub ids resolve from the cache only) or runs a checkpoint's own code unless trust_remote_code
was asked for: config.json is read as JSON data first, so a checkpoint that needs remote code is refused in one
line before transformers reads it. Every refusal is a CheckpointError (one line, exit 2 in the cli).
"""
from __future__ import annotations

import hashlib
import inspect
import json
import re
import struct
from dataclasses import asdict, dataclass
from pathlib import Path

from hwcov.core.errors import UsageError

WEIGHTS = ("model.safetensors", "pytorch_model.bin")  # one file, else the sharded index below names the shards
INDEXES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")
HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}(/[A-Za-z0-9][A-Za-z0-9._-]{0,95})?\Z")
DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1,
               "F8_E4M3": 1, "F8_E5M2": 1}
PRECISION_BYTES = {"fp32": 4, "fp16": 2, "bf16": 2, "int8": 1}
# Real text through the real tokenizer: fixed sentences, so a reference made today is the reference tomorrow.
SENTENCES = ("The quick brown fox jumps over the lazy dog.",
             "Hardware coverage means knowing which models run where, and how close to the reference.",
             "A checkpoint with trained weights can overflow in half precision where random weights never do.",
             "Tokenizers turn text into ids; the model turns ids into vectors.")


class CheckpointError(UsageError):
    """A checkpoint that can't be used as given (absent, not a transformers folder, needs remote code)."""


@dataclass(frozen=True)
class Checkpoint:
    key: str  # what the user typed, normalized: a hub id, or the folder's absolute path
    path: str  # the folder read (a snapshot folder of the cache for a hub id)
    source: str  # "folder" or "hf-cache"
    model_type: str
    model_class: str  # config.architectures[0] when transformers has it, else ''
    weight_files: tuple[str, ...]
    sha256: str  # of the weight files, in name order
    weight_bytes: int
    params: int  # from the safetensors headers; estimated as bytes / 4 for a .bin
    input_source: str  # tokenizer | image_processor | feature_extractor | processor | synthesized
    trust_remote_code: bool = False

    def case_field(self) -> dict:
        """What a generated test's CASE carries (plain literals; the digest keys references and exports by it)."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}

    def slug(self) -> str:
        """A file-name stem of the key: readable part + digest (two keys never share a file)."""
        stem = re.sub(r"[^a-z0-9]+", "_", self.key.lower()).strip("_")[-40:] or "checkpoint"
        return f"{stem}_{hashlib.sha256(self.key.encode()).hexdigest()[:8]}"


def locate(spec: str) -> tuple[str, Path, str]:
    """(key, folder, source) for a folder path or a hub id in the local cache; CheckpointError naming where it looked."""
    text = str(spec).strip()
    if not text or "\x00" in text:
        raise CheckpointError(f"--checkpoint needs a folder or a hub id, got {spec!r}")
    folder = Path(text).expanduser()
    if folder.is_dir():
        return str(folder.resolve()), folder.resolve(), "folder"
    if folder.exists():
        raise CheckpointError(f"checkpoint {text!r} is a file; give the folder that holds config.json")
    if text.startswith(("/", ".", "~")) or text.count("/") > 1:  # a path: say which folder is missing
        raise CheckpointError(f"checkpoint {text[:200]!r}: no such folder ({folder.resolve()})")
    if not HUB_ID.match(text) or ".." in text:
        raise CheckpointError(f"checkpoint {text[:200]!r} is neither a folder nor a hub id (owner/name)")
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        snapshot = snapshot_download(text, local_files_only=True)
    except (LocalEntryNotFoundError, OSError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {text!r}: no folder of that name and not in the local Hugging Face cache "
                              f"({constants.HF_HUB_CACHE}); hwcov never downloads ({type(exc).__name__})") from exc
    return text, Path(snapshot).resolve(), "hf-cache"


def read_config(folder: Path, key: str) -> dict:
    path = folder / "config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {key!r}: no config.json in {folder}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"checkpoint {key!r}: config.json is not JSON ({exc})") from exc
    if not isinstance(config, dict) or not isinstance(config.get("model_type"), str):
        raise CheckpointError(f"checkpoint {key!r}: config.json names no model_type")
    return config


def weight_files(folder: Path, key: str) -> tuple[str, ...]:
    for name in WEIGHTS:
        if (folder / name).is_file():
            return (name,)
    for name in INDEXES:
        if (folder / name).is_file():
            try:
                shards = sorted(set(json.loads((folder / name).read_text(encoding="utf-8"))["weight_map"].values()))
            except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
                raise CheckpointError(f"checkpoint {key!r}: {name} is unreadable ({exc})") from exc
            bad = [s for s in shards if not isinstance(s, str) or Path(s).name != s or not (folder / s).is_file()]
            if bad:
                raise CheckpointError(f"checkpoint {key!r}: {name} names shards that are not files here: {bad[:3]}")
            return tuple(shards)
    raise CheckpointError(f"checkpoint {key!r}: no weights in {folder} (looked for {', '.join(WEIGHTS + INDEXES)})")


def safetensors_params(path: Path) -> int:
    """Element count from the file's JSON header: the tensors are never read."""
    with open(path, "rb") as fh:
        (size,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(min(size, 100_000_000)))
    total = 0
    for name, meta in header.items():
        if name != "__metadata__":
            count = 1
            for d in meta["shape"]:
                count *= int(d)
            total += count
    return total


def digest(folder: Path, files: tuple[str, ...]) -> str:
    h = hashlib.sha256()
    for name in files:
        with open(folder / name, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def input_source(folder: Path) -> str:
    """Which of the checkpoint's own preprocessors feed it (the row says so), 'synthesized' when it has none."""
    tokenizer = any((folder / f).is_file() for f in TOKENIZER_FILES)
    pre = folder / "preprocessor_config.json"
    kind = ""
    if pre.is_file():
        try:
            spec = json.loads(pre.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            spec = {}
        kind = "feature_extractor" if isinstance(spec, dict) and "feature_extractor_type" in spec \
            and "image_processor_type" not in spec else "image_processor"
    if tokenizer and kind:
        return "processor"
    return "tokenizer" if tokenizer else kind or "synthesized"


def resolve(spec: str, trust_remote_code: bool = False) -> Checkpoint:
    """Describe a checkpoint from its files alone (no model code runs): CheckpointError when it can't be used."""
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    key, folder, source = locate(spec)
    config = read_config(folder, key)
    model_type = config["model_type"]
    if model_type not in CONFIG_MAPPING:
        if not trust_remote_code:
            hint = " (its auto_map names remote code)" if config.get("auto_map") else ""
            raise CheckpointError(f"checkpoint {key!r}: model_type {model_type[:60]!r} is not in the installed "
                                  f"transformers{hint}; --trust-remote-code runs the checkpoint's own code")
    files = weight_files(folder, key)
    size = sum((folder / f).stat().st_size for f in files)
    params = sum(safetensors_params(folder / f) for f in files) if files[0].endswith(".safetensors") else size // 4
    names = config.get("architectures") or []
    return Checkpoint(key=key, path=str(folder), source=source, model_type=model_type,
                      model_class=names[0] if names and isinstance(names[0], str) else "", weight_files=files,
                      sha256=digest(folder, files), weight_bytes=size, params=params,
                      input_source=input_source(folder), trust_remote_code=bool(trust_remote_code))


def memory_needed_mb(params: int, precision: str) -> float:
    """Every row loads the fp32 model first (the reference's precision), then the runtime holds its own copy."""
    return params * (4 + PRECISION_BYTES.get(precision, 4)) / 2**20


def memory_gate(checkpoint: dict, precision: str, limits: list[tuple[float, str]]) -> str:
    """'' when the weights fit every known limit (MiB, what sets it), else the not_applicable reason, in numbers."""
    need = memory_needed_mb(int(checkpoint.get("params") or 0), precision)
    for limit, what in limits:
        if limit and need > limit:
            return (f"checkpoint needs ~{need:.0f} MiB at {precision} ({checkpoint.get('params', 0):,} parameters: "
                    f"the fp32 model every row loads plus the {precision} copy the runtime holds); {what} leaves "
                    f"{limit:.0f} MiB")
    return ""


# -- building: the checkpoint's weights, its own preprocessors where it has them ---------------------------------
TEXT_COMPANIONS = ("attention_mask", "token_type_ids", "position_ids")  # sized by input_ids: replaced with them


def feed_plan(checkpoint: dict, modality: str) -> tuple[str, ...]:
    """The checkpoint's preprocessors that make this modality's inputs (the rest is synthesized, as for a random
    checkpoint): the tokenizer for text, the image processor for pixels, the feature extractor for audio. A
    multimodal prompt must hold the model's image placeholders, so its text stays synthesized."""
    have = checkpoint.get("input_source", "synthesized")
    plan = []
    if have in ("tokenizer", "processor") and modality == "text":
        plan.append("tokenizer")
    if have in ("image_processor", "processor") and modality in ("vision", "multimodal", "video"):
        plan.append("image_processor")
    if have == "feature_extractor" and modality in ("audio", "multimodal"):
        plan.append("feature_extractor")
    return tuple(plan)


def describe_feed(checkpoint: dict, modality: str) -> str:
    """The row's input_source: which preprocessors fed the model, '+synthesized' for what they don't make."""
    plan = feed_plan(checkpoint, modality)
    return "+".join(plan) if plan else "synthesized"


def build(case, batch: int):
    """(config, model, feed) for a checkpoint case: trained weights in fp32, inputs from its own preprocessors."""
    import torch
    from transformers import AutoConfig, AutoModel

    from hwcov.models import inputs, tiny

    ck = case.checkpoint
    trust = bool(ck.get("trust_remote_code"))
    config = AutoConfig.from_pretrained(ck["path"], local_files_only=True, trust_remote_code=trust)
    import transformers

    if getattr(transformers, case.model_class, None) is None and trust:
        cls = AutoModel  # remote code: the checkpoint's auto_map names its class
    else:
        cls = tiny.model_class_named(case.model_class, config)
    model = cls.from_pretrained(ck["path"], config=config, local_files_only=True, trust_remote_code=trust,
                                dtype=torch.float32).eval()
    torch.manual_seed(0)
    feed = inputs.synthesize(model, config, case.input_spec, batch=batch)
    # a benchmark cell asks for a sequence length: the real text, repeated and cut to it (pad_text)
    length = int(case.input_spec["seq_len"]) if case.input_spec.get("pad_text") else 0
    real = preprocessed(ck, feed_plan(ck, case.modality), batch, length)
    accepted = set(inspect.signature(model.forward).parameters)
    real = {k: v for k, v in real.items() if k in accepted}
    if "input_ids" in real:
        feed = {k: v for k, v in feed.items() if k not in TEXT_COMPANIONS}
    return config, model, {**feed, **real}


def generative(case, head: str):
    """(config, model, prompt ids or None) for the generate mode of a checkpoint case: its trained weights in the
    architecture's generative head class `head` (what the head has and the checkpoint lacks, such as an LM head over
    a base model, starts as from_pretrained starts it), prompted with what its tokenizer makes of the first sentence."""
    import torch
    from transformers import AutoConfig

    from hwcov.models import tiny

    ck = case.checkpoint
    options = {"local_files_only": True, "trust_remote_code": bool(ck.get("trust_remote_code"))}
    config = AutoConfig.from_pretrained(ck["path"], **options)
    model = tiny.model_class_named(head, config).from_pretrained(ck["path"], config=config, dtype=torch.float32,
                                                                 **options).eval()
    plan = feed_plan(ck, case.modality)
    prompt = preprocessed(ck, ("tokenizer",), 1)["input_ids"] if "tokenizer" in plan else None
    return config, model, prompt


def preprocessed(checkpoint: dict, plan: tuple[str, ...], batch: int, length: int = 0) -> dict:
    """The preprocessors' outputs on fixed data: SENTENCES (exactly `length` tokens when given), a gradient image,
    a 440 Hz tone."""
    import numpy as np
    from transformers import AutoFeatureExtractor, AutoImageProcessor, AutoTokenizer

    path, trust, out = checkpoint["path"], bool(checkpoint.get("trust_remote_code")), {}
    options = {"local_files_only": True, "trust_remote_code": trust}
    if "tokenizer" in plan:
        tokenizer = AutoTokenizer.from_pretrained(path, **options)
        if tokenizer.pad_token is None:  # a decoder's tokenizer often has none: batch rows still need one length
            tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
        texts = [SENTENCES[i % len(SENTENCES)] for i in range(batch)]
        if length:
            texts = [" ".join([t, *SENTENCES] * (length // 8 + 1)) for t in texts]
            out.update(tokenizer(texts, return_tensors="pt", padding="max_length", truncation=True, max_length=length))
        else:
            out.update(tokenizer(texts, return_tensors="pt", padding=True))
    if "image_processor" in plan:
        from PIL import Image

        ramp = np.linspace(0, 255, 224, dtype=np.float32)
        images = [Image.fromarray(np.stack([np.add.outer(ramp, ramp * (i + 1)) % 256, np.add.outer(ramp, ramp).T / 2,
                                            np.full((224, 224), 40.0 * i)], -1).astype("uint8")) for i in range(batch)]
        out.update(AutoImageProcessor.from_pretrained(path, **options)(images=images, return_tensors="pt"))
    if "feature_extractor" in plan:
        extractor = AutoFeatureExtractor.from_pretrained(path, **options)
        rate = int(getattr(extractor, "sampling_rate", 16000) or 16000)
        t = np.arange(rate, dtype=np.float32) / rate
        waves = [0.5 * np.sin(2 * np.pi * 440 * (i + 1) * t).astype(np.float32) for i in range(batch)]
        out.update(extractor(waves, sampling_rate=rate, return_tensors="pt"))
    return dict(out)
