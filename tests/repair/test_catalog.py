"""Catalog entries added from the command line and the architectures a pattern affects, on a copy of the shipped
templates and the real classifier."""
import shutil

import pandas as pd
import pytest
import yaml

from hwcov.core import paths
from hwcov.core.errors import UsageError
from hwcov.repair import catalog
from hwcov.run import patterns

PAD = "ValueError: Cannot handle batch sizes > 1 if no padding token is defined."
RESULTS = pd.DataFrame([
    {"model_type": "gpt2", "hardware": "cpu", "status": "fail_to_run", "error_message": PAD},
    {"model_type": "gpt2", "hardware": "onnxruntime", "status": "fail_to_run", "error_message": PAD},
    {"model_type": "llama", "hardware": "cpu", "status": "pass", "error_message": ""},
    {"model_type": "vit", "hardware": "cpu", "status": "fail_to_run",
     "error_message": "RuntimeError: mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)"},
    {"model_type": "t5", "hardware": "cpu", "status": "fail_to_run", "error_message": "KeyError: 'frobnicate'"},
    {"model_type": "bert", "hardware": "cuda", "status": "unavailable", "error_message": PAD},
])


@pytest.fixture
def templates(tmp_path, monkeypatch):
    shutil.copytree(paths.TEMPLATES_DIR, tmp_path / "templates")
    monkeypatch.setenv("HWCOV_TEMPLATES_DIR", str(tmp_path / "templates"))
    from hwcov.repair.loop import reset_process_caches

    reset_process_caches()
    yield tmp_path / "templates"
    reset_process_caches()


def test_affected_is_exactly_the_failures_the_pattern_classifies(templates):
    assert catalog.affected(RESULTS, "padding_token_missing") == {"cpu": ["gpt2"], "onnxruntime": ["gpt2"]}
    assert catalog.affected(RESULTS, "shape_mismatch") == {"cpu": ["vit"]}
    with pytest.raises(UsageError, match="--add-error-pattern"):
        catalog.affected(RESULTS, "no_such_pattern")


def test_a_new_entry_learns_its_regex_and_claims_its_models(templates):
    entry, source = catalog.add("frobnicate_key", ["t5"], "Give t5 a frobnicate input", None, RESULTS)
    assert source.startswith("the commonest stored failure message of t5") and entry["regex"] == r"KeyError:\ 'frobnicate'"
    assert patterns.classify("fail_to_run", "KeyError: 'frobnicate'") == "frobnicate_key"
    assert catalog.affected(RESULTS, "frobnicate_key") == {"cpu": ["t5"]}
    written = yaml.safe_load((templates / patterns.ADDED_FILE).read_text())["patterns"]
    assert [p["name"] for p in written] == ["frobnicate_key"]
    # the shipped catalog file is never rewritten
    assert (templates / "error_patterns.yaml").read_bytes() == (paths.TEMPLATES_DIR / "error_patterns.yaml").read_bytes()


def test_a_shipped_name_is_updated_not_duplicated(templates):
    _, source = catalog.add("missing_decoder_inputs", ["t5", "mt5"], "Add decoder_input_ids", None, RESULTS)
    assert source == "the catalog's own regex"
    found = [p for p in patterns.catalog() if p["name"] == "missing_decoder_inputs"]
    assert len(found) == 1 and found[0]["models"] == ["mt5", "t5"] and found[0]["fix"] == "Add decoder_input_ids"


@pytest.mark.parametrize("name, models, regex, message", [
    ("Bad Name", ["t5"], "x", "--name"),
    ("fine_name", ["t5"], "([unclosed", "not a valid regular expression"),
    ("fine_name", ["llama"], None, "needs --regex"),  # llama has no stored failure to learn from
])
def test_an_entry_that_could_not_classify_is_refused_and_nothing_written(templates, name, models, regex, message):
    with pytest.raises(UsageError, match=message):
        catalog.add(name, models, "a fix", regex, RESULTS)
    assert not (templates / patterns.ADDED_FILE).exists()
