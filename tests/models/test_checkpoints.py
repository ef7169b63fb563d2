"""A user's checkpoint is described from its files before any of it runs (issue #26): weights hashed and counted
without loading, its own tokenizer found, and every checkpoint that can't be used refused in one line."""
import hashlib
import json
import shutil

import pytest

from hwcov.cases.case import ArchCase, checkpoint_fields
from hwcov.models import checkpoints
from hwcov.models.checkpoints import CheckpointError
from tests.models.checkpoint_factory import save_bert


@pytest.fixture(scope="module")
def bert_folder(tmp_path_factory):
    return save_bert(tmp_path_factory.mktemp("ckpt") / "tiny-bert")


def test_a_folder_is_described_from_its_files(bert_folder):
    from transformers import BertForMaskedLM

    ck = checkpoints.resolve(str(bert_folder))
    assert (ck.key, ck.source, ck.model_type, ck.model_class) == (str(bert_folder), "folder", "bert", "BertForMaskedLM")
    assert ck.sha256 == hashlib.sha256((bert_folder / "model.safetensors").read_bytes()).hexdigest()
    assert ck.params == BertForMaskedLM.from_pretrained(bert_folder).num_parameters()  # from the header alone
    assert ck.input_source == "tokenizer" and not ck.trust_remote_code


def test_the_weights_hash_follows_the_weights(bert_folder, tmp_path):
    other = save_bert(tmp_path / "other", overflow=10.0)
    assert checkpoints.resolve(str(other)).sha256 != checkpoints.resolve(str(bert_folder)).sha256
    bare = save_bert(tmp_path / "bare", with_tokenizer=False)
    assert checkpoints.resolve(str(bare)).input_source == "synthesized"


def edit_config(folder, **changes):
    config = json.loads((folder / "config.json").read_text())
    config.update(changes)
    (folder / "config.json").write_text(json.dumps(config))


def broken(kind: str, folder):
    """A copy of a good checkpoint, broken one way."""
    if kind == "no_config":
        (folder / "config.json").unlink()
    elif kind == "config_not_json":
        (folder / "config.json").write_text("{model_type: bert")
    elif kind == "no_model_type":
        edit_config(folder, model_type=None)
    elif kind == "no_weights":
        (folder / "model.safetensors").unlink()
    elif kind == "shard_outside_folder":
        (folder / "model.safetensors").rename(folder / "model-00001.safetensors")
        (folder / "model.safetensors.index.json").write_text(json.dumps(
            {"weight_map": {"a": "../../etc/passwd", "b": "model-00001.safetensors"}}))
    elif kind == "remote_code":
        edit_config(folder, model_type="acme-net", auto_map={"AutoModel": "modeling_acme.AcmeModel"})
    return folder


REFUSALS = {"no_config": "no config.json", "config_not_json": "config.json is not JSON",
            "no_model_type": "names no model_type", "no_weights": "no weights in",
            "shard_outside_folder": "names shards that are not files here",
            "remote_code": "--trust-remote-code runs the checkpoint's own code"}


@pytest.mark.parametrize("kind", sorted(REFUSALS))
def test_an_unusable_checkpoint_is_one_line(kind, bert_folder, tmp_path):
    folder = broken(kind, shutil.copytree(bert_folder, tmp_path / "ck"))
    with pytest.raises(CheckpointError) as err:
        checkpoints.resolve(str(folder))
    assert REFUSALS[kind] in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("spec", ["", "   ", "nowhere/at-all", "../../etc", "a/b/c", "x\x00y"])
def test_names_that_are_no_folder_and_no_cached_id_are_refused(spec):
    with pytest.raises(CheckpointError):
        checkpoints.resolve(spec)


def test_remote_code_is_recorded_when_allowed(bert_folder, tmp_path):
    folder = broken("remote_code", shutil.copytree(bert_folder, tmp_path / "ck"))
    ck = checkpoints.resolve(str(folder), trust_remote_code=True)
    assert ck.trust_remote_code and ck.model_type == "acme-net"
    case = ArchCase("acme-net", "AutoModel", "other", "remote-code", "text", checkpoint=ck.case_field())
    assert checkpoint_fields(case)["remote_code"] == "allowed"
    refused = checkpoints.resolve(str(bert_folder)).case_field()
    assert checkpoint_fields(ArchCase("bert", "BertModel", "text-encoder", "masked-lm", "text",
                                      checkpoint=refused))["remote_code"] == "refused"


def test_random_weight_cases_keep_their_digest_and_empty_keys(bert_folder):
    from dataclasses import asdict

    case = ArchCase("bert", "BertModel", "text-encoder", "masked-lm", "text", input_spec={"seq_len": 8})
    # the digest keys stored references and exports: the new field must not move a random-weight case's
    before = {k: v for k, v in asdict(case).items() if k != "checkpoint"}
    assert case.digest() == hashlib.sha256(json.dumps(before, sort_keys=True).encode()).hexdigest()[:16]
    assert set(checkpoint_fields(case).values()) == {""}
    field = checkpoints.resolve(str(bert_folder)).case_field()
    mine = ArchCase(**{**before, "checkpoint": field})
    assert mine.digest() not in (case.digest(), ArchCase(**{**before, "checkpoint": {**field, "sha256": "0"}}).digest())


def test_the_memory_gate_speaks_in_numbers():
    need = checkpoints.memory_needed_mb(10_000_000, "fp16")
    assert need == pytest.approx(10_000_000 * 6 / 2**20)
    reason = checkpoints.memory_gate({"params": 10_000_000}, "fp16", [(0, ""), (50.0, "MemAvailable")])
    assert "~57 MiB at fp16" in reason and "10,000,000 parameters" in reason and "MemAvailable leaves 50 MiB" in reason
    assert checkpoints.memory_gate({"params": 10_000_000}, "fp16", [(4096.0, "MemAvailable"), (0, "")]) == ""


def test_a_missing_folder_is_named_as_one(tmp_path):
    with pytest.raises(CheckpointError, match=r"no such folder \(.*/gone\)"):
        checkpoints.resolve(str(tmp_path / "gone"))
