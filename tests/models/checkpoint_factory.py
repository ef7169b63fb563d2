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


def save_gpt2(folder: Path) -> Path:
    """A GPT2LMHeadModel checkpoint (a causal head with a KV cache) with the same trained tokenizer."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    tok = tokenizer()
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(tok), n_embd=32, n_layer=2, n_head=4, n_positions=64,
                        pad_token_id=tok.pad_token_id)
    folder = Path(folder)
    GPT2LMHeadModel(config).eval().save_pretrained(folder)
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


REMOTE_CONFIG = '''from transformers import PretrainedConfig


class AcmeConfig(PretrainedConfig):
    model_type = "acme-net"

    def __init__(self, vocab_size=300, hidden_size=16, **kwargs):
        self.vocab_size, self.hidden_size = vocab_size, hidden_size
        super().__init__(**kwargs)
'''
REMOTE_MODEL = '''import torch
from transformers import PreTrainedModel
from transformers.modeling_outputs import BaseModelOutput

from .configuration_acme import AcmeConfig


class AcmeModel(PreTrainedModel):
    config_class = AcmeConfig

    def __init__(self, config):
        super().__init__(config)
        self.embed = torch.nn.Embedding(config.vocab_size, config.hidden_size)
        self.proj = torch.nn.Linear(config.hidden_size, config.hidden_size)
        self.post_init()

    def forward(self, input_ids, attention_mask=None):
        return BaseModelOutput(last_hidden_state=torch.tanh(self.proj(self.embed(input_ids))))
'''


def save_remote_code(folder: Path) -> Path:
    """A checkpoint only its own code can load: a model type transformers doesn't know, named by auto_map (written
    as files and JSON here: the test process never imports them)."""
    import json

    import torch
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True)
    tok = tokenizer()
    tok.save_pretrained(folder)
    (folder / "configuration_acme.py").write_text(REMOTE_CONFIG)
    (folder / "modeling_acme.py").write_text(REMOTE_MODEL)
    (folder / "config.json").write_text(json.dumps({
        "model_type": "acme-net", "architectures": ["AcmeModel"], "vocab_size": len(tok), "hidden_size": 16,
        "auto_map": {"AutoConfig": "configuration_acme.AcmeConfig", "AutoModel": "modeling_acme.AcmeModel"}}))
    g = torch.Generator().manual_seed(0)
    save_file({"embed.weight": torch.randn(len(tok), 16, generator=g), "proj.weight": torch.randn(16, 16, generator=g),
               "proj.bias": torch.randn(16, generator=g)}, str(folder / "model.safetensors"), metadata={"format": "pt"})
    return folder


def save_vit(folder: Path) -> Path:
    """A ViTForImageClassification checkpoint with its own image processor (32x32, its own mean/std)."""
    import json

    import torch
    from transformers import ViTConfig, ViTForImageClassification

    torch.manual_seed(2)
    model = ViTForImageClassification(ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2,
                                                num_attention_heads=4, intermediate_size=37, num_labels=3)).eval()
    model.save_pretrained(folder)
    # as a hub checkpoint's preprocessor_config.json reads (transformers picks its PIL backend without torchvision)
    (Path(folder) / "preprocessor_config.json").write_text(json.dumps({
        "image_processor_type": "ViTImageProcessor", "do_resize": True, "size": {"height": 32, "width": 32},
        "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True, "image_mean": [0.4, 0.5, 0.6],
        "image_std": [0.2, 0.25, 0.3]}))
    return Path(folder)


def save_wav2vec2(folder: Path) -> Path:
    """A Wav2Vec2Model checkpoint with its own feature extractor (8 kHz: the tone is made at its rate)."""
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

    torch.manual_seed(3)
    model = Wav2Vec2Model(Wav2Vec2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                         intermediate_size=37, conv_dim=(16, 16), conv_stride=(5, 4),
                                         conv_kernel=(10, 4), num_feat_extract_layers=2,
                                         num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2)).eval()
    model.save_pretrained(folder)
    Wav2Vec2FeatureExtractor(sampling_rate=8000, do_normalize=True).save_pretrained(folder)
    return Path(folder)
