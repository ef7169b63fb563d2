"""Template data drop-ins (<name>.d/*.yaml): merged into the main file; an entry defined twice is refused."""
import pytest
import yaml

from hwcov.core import data


def _templates(tmp_path, monkeypatch, main: dict, dropins: dict) -> None:
    (tmp_path / "skips.yaml").write_text(yaml.safe_dump(main))
    (tmp_path / "skips.d").mkdir()
    for name, body in dropins.items():
        (tmp_path / "skips.d" / name).write_text(yaml.safe_dump(body))
    monkeypatch.setenv("HWCOV_TEMPLATES_DIR", str(tmp_path))


def test_dropins_merge_into_the_main_file(tmp_path, monkeypatch):
    _templates(tmp_path, monkeypatch, {"model_types": {"a": {"reason": "x"}}},
               {"one.yaml": {"model_types": {"b": {"reason": "y"}}, "families": {"f": {"reason": "z"}}}})
    spec = data.load("skips.yaml")
    assert spec["model_types"] == {"a": {"reason": "x"}, "b": {"reason": "y"}}
    assert spec["families"] == {"f": {"reason": "z"}}


def test_an_entry_defined_twice_is_an_error_naming_the_file(tmp_path, monkeypatch):
    _templates(tmp_path, monkeypatch, {"model_types": {"a": {"reason": "x"}}},
               {"two.yaml": {"model_types": {"a": {"reason": "other"}}}})
    with pytest.raises(ValueError, match=r"two\.yaml.*model_types a already defined"):
        data.load("skips.yaml")


def test_shipped_templates_have_no_duplicate_entries():
    for name in ("tiny/overrides.yaml", "inputs.yaml", "skips.yaml"):
        assert data.load(name)["model_types"]


def test_a_version_patch_applies_only_to_matching_transformers(tmp_path, monkeypatch):
    patch = {"applies_to": {"transformers": "<5"}, "model_types": {"a": {"reason": "old", "scope": ["cpu"]}}}
    _templates(tmp_path, monkeypatch, {"model_types": {"a": {"reason": "x"}}}, {"zz_v4.yaml": patch})
    from importlib.metadata import version

    expected = {"reason": "old", "scope": ["cpu"]} if version("transformers").startswith("4.") else {"reason": "x"}
    assert data.load("skips.yaml")["model_types"]["a"] == expected
    data._load.cache_clear()
    patch["applies_to"] = {"transformers": ">=4"}
    (tmp_path / "skips.d" / "zz_v4.yaml").write_text(yaml.safe_dump(patch))
    assert data.load("skips.yaml")["model_types"]["a"] == {"reason": "old", "scope": ["cpu"]}
    data._load.cache_clear()
    patch["applies_to"] = {"transformers": "not a specifier"}
    (tmp_path / "skips.d" / "zz_v4.yaml").write_text(yaml.safe_dump(patch))
    with pytest.raises(ValueError, match="applies_to must map a package"):
        data.load("skips.yaml")
