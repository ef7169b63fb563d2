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
    data.clear_cache()
    patch["applies_to"] = {"transformers": ">=4"}
    (tmp_path / "skips.d" / "zz_v4.yaml").write_text(yaml.safe_dump(patch))
    assert data.load("skips.yaml")["model_types"]["a"] == {"reason": "old", "scope": ["cpu"]}
    data.clear_cache()
    patch["applies_to"] = {"transformers": "not a specifier"}
    (tmp_path / "skips.d" / "zz_v4.yaml").write_text(yaml.safe_dump(patch))
    with pytest.raises(ValueError, match="applies_to must map a package"):
        data.load("skips.yaml")


def test_deep_merge_merges_mappings_at_every_depth_and_can_ignore_notes():
    base = {"a": 1, "sub": {"x": 1, "y": 2, "why": "base note"}, "list": [1, 2]}
    over = {"sub": {"y": 3, "why": "over note"}, "list": [3], "why": "top note", "new": {"k": 1}}
    assert data.deep_merge(base, over) == {"a": 1, "sub": {"x": 1, "y": 3, "why": "over note"}, "list": [3],
                                           "why": "top note", "new": {"k": 1}}
    # the tiny overrides' merge: an override's `why:` documents it and never reaches the config
    assert data.deep_merge(base, over, ignore=("why",)) == {"a": 1, "sub": {"x": 1, "y": 3, "why": "base note"},
                                                            "list": [3], "new": {"k": 1}}
    assert data.deep_merge(None, {"k": 1}) == {"k": 1} and data.deep_merge({"k": 1}, 2) == 2
    assert base["sub"] == {"x": 1, "y": 2, "why": "base note"}  # the inputs are left as they were


def test_tiny_overrides_leave_out_the_why_notes():
    from hwcov.models import tiny

    spec = data.load("tiny/overrides.yaml")
    model_type, entry = next((m, e) for m, e in spec["model_types"].items() if "why" in e)
    merged = tiny.overrides_for(model_type, "no_such_family")
    assert "why" not in merged
    assert all(merged[k] == v for k, v in entry.items() if k != "why" and not isinstance(v, dict))


def test_clear_cache_rereads_the_templates(tmp_path, monkeypatch):
    _templates(tmp_path, monkeypatch, {"model_types": {"a": {"reason": "x"}}}, {})
    assert data.load("skips.yaml")["model_types"]["a"] == {"reason": "x"}
    (tmp_path / "skips.yaml").write_text(yaml.safe_dump({"model_types": {"a": {"reason": "edited"}}}))
    assert data.load("skips.yaml")["model_types"]["a"] == {"reason": "x"}  # cached per process
    data.clear_cache()
    assert data.load("skips.yaml")["model_types"]["a"] == {"reason": "edited"}


def test_forget_changed_rereads_only_when_a_file_read_was_edited_added_or_removed(tmp_path, monkeypatch):
    """What a fork server read stays served until a file under it changes: an edit, a drop-in added or removed."""
    _templates(tmp_path, monkeypatch, {"model_types": {"a": {"reason": "x"}}}, {"one.yaml": {"model_types": {}}})
    first = data.load("skips.yaml")
    assert data.forget_changed() is False and data.load("skips.yaml") is first  # unchanged: one read
    edits = [
        lambda: (tmp_path / "skips.yaml").write_text(yaml.safe_dump({"model_types": {"a": {"reason": "edited"}}})),
        lambda: (tmp_path / "skips.d" / "two.yaml").write_text(yaml.safe_dump({"model_types": {"b": {"reason": "y"}}})),
        lambda: (tmp_path / "skips.d" / "two.yaml").unlink(),
    ]
    seen = []
    for edit in edits:
        edit()
        assert data.forget_changed() is True
        seen.append(sorted(data.load("skips.yaml")["model_types"].items()))
    assert seen == [[("a", {"reason": "edited"})], [("a", {"reason": "edited"}), ("b", {"reason": "y"})],
                    [("a", {"reason": "edited"})]]


def test_paths_chosen_for_a_call_win_over_the_environment_and_end_with_it(tmp_path, monkeypatch):
    from hwcov.core import paths

    monkeypatch.setenv(paths.DB_ENV, str(tmp_path / "env.duckdb"))
    monkeypatch.delenv(paths.ARTIFACTS_ENV, raising=False)
    with paths.configured(db_path=tmp_path / "chosen" / "db.duckdb", generated_dir=None):
        assert paths.db_path() == tmp_path / "chosen" / "db.duckdb"
        assert paths.artifacts_dir() == tmp_path / "chosen" / ".hwcov"  # beside the chosen database
    assert paths.db_path() == tmp_path / "env.duckdb"


@pytest.mark.parametrize("tag", ["!!python/object:os.system", "!!python/name:os.system", "!custom", "!!str"])
def test_a_yaml_tag_in_a_dropin_is_a_config_error_naming_file_key_and_line(tmp_path, monkeypatch, tag):
    from hwcov.core.errors import ConfigError

    _templates(tmp_path, monkeypatch, {"model_types": {"a": {"reason": "x"}}}, {})
    (tmp_path / "skips.d" / "evil.yaml").write_text(f"model_types:\n  b:\n    reason: {tag} {{}}\n")
    with pytest.raises(ConfigError, match=r"evil\.yaml: line 3 \(model_types\.b\.reason\): .*tags are not allowed"):
        data.load("skips.yaml")


def test_a_tagged_dropin_makes_generate_tests_exit_2_with_one_line(tmp_path):
    import os
    import shutil
    import subprocess
    import sys

    from hwcov.core.paths import TEMPLATES_DIR

    templates = tmp_path / "templates"
    shutil.copytree(TEMPLATES_DIR, templates)
    (templates / "skips.d" / "evil.yaml").write_text("model_types:\n  bert: !!python/object/apply:os.system [true]\n")
    env = {**os.environ, "HWCOV_TEMPLATES_DIR": str(templates), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-m", "hwcov.cli.main", "--generate-tests", "--generated-dir",
                           str(tmp_path / "gen"), "--db-path", str(tmp_path / "db.duckdb")],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "evil.yaml" in lines[0] and "tags are not allowed" in lines[0], done.stderr
