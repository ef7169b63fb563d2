"""Real checkpoints for the tests, made offline: a tiny BERT with trained-from-scratch WordPiece tokenizer (the
`tokenizers` library on a few sentences), saved with `save_pretrained` into a folder or a Hugging Face cache layout."""
from __future__ import annotations

import shutil
from pathlib import Path

CORPUS = ["The quick brown fox jumps over the lazy dog.", "Hardware coverage means knowing which models run where.",
          "A checkpoint with trained weights can overflow in half precision.", "Tokenizers turn text into ids.",
          "and how close to the reference the model turns ids into vectors where random weights never do"]


def tokenizer():
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(CORPUS, trainers.WordPieceTrainer(vocab_size=300, special_tokens=special))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
                                                       special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]")


def save_bert(folder: Path, overflow: float = 0.0, with_tokenizer: bool = True) -> Path:
    """A BertForMaskedLM checkpoint. overflow > 0 scales the first layer's intermediate projection by it and the
    projection back by 1/it: the fp32 forward is the same function, but its activations reach |overflow| x their
    usual size (past fp16's 65504 for overflow >= ~1e6), as an outlier feature of a trained model does."""
    import torch
    from transformers import BertConfig, BertForMaskedLM

    tok = tokenizer()
    config = BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=37, max_position_embeddings=64, pad_token_id=tok.pad_token_id)
    torch.manual_seed(1)
    model = BertForMaskedLM(config).eval()
    if overflow:
        layer = model.bert.encoder.layer[0]
        with torch.no_grad():
            layer.intermediate.dense.weight.mul_(overflow)
            layer.intermediate.dense.bias.mul_(overflow)
            layer.output.dense.weight.div_(overflow)
    folder = Path(folder)
    model.save_pretrained(folder)
    if with_tokenizer:
        tok.save_pretrained(folder)
    return folder


def into_hf_cache(folder: Path, cache: Path, repo_id: str, commit: str = "0" * 40) -> Path:
    """The hub cache's layout (models--owner--name/{refs/main, snapshots/<commit>/...}), as a download leaves it."""
    repo = Path(cache) / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / commit
    shutil.copytree(folder, snapshot)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    return snapshot
