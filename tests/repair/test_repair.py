"""The automatic template repair loop, with real components: a real tiny CPU sweep of two architectures
broken through template data, the catalog's recipes, real reruns through the Dagster pipeline, DuckDB."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import yaml

from hwcov.core import paths
from hwcov.repair import loop as repair

HWCOV = str(Path(sys.executable).with_name("hwcov"))
SEED = b"# seeded by the test: this exact formatting must survive a revert\nmodel_types: {}   # nothing yet\n"
# A recipe that applies to dots1 (its config has the key) but cannot help: its expert counts stay unset.
UNHELPFUL = {"name": "test_expert_count_unset", "regex": r"empty\(\) takes 1 positional argument",
             "category": "config", "explanation": "test: routed expert count unset",
             "fix": "Set n_routed_experts and n_shared_experts in templates/tiny/overrides.yaml.",
             "auto_fix": [{"set": {"num_experts_per_tok": 2}, "why": "test: not enough on its own"}]}


def _break(templates: Path, model_types: list[str]) -> None:
    """Drop the shipped overrides these architectures need, wherever they live."""
    tiny = templates / "tiny"
    for f in [tiny / "overrides.yaml", *sorted((tiny / "overrides.d").glob("*.yaml"))]:
        spec = yaml.safe_load(f.read_text()) or {}
        if any(m in (spec.get("model_types") or {}) for m in model_types):
            for m in model_types:
                (spec.get("model_types") or {}).pop(m, None)
            f.write_text(yaml.safe_dump(spec))


def _table(db: Path, sql: str):
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("repair")
    templates = tmp / "templates"
    shutil.copytree(paths.templates_dir(), templates)  # the shipped ones, or $HWCOV_TEMPLATES_DIR
    (templates / repair.AUTO_FILE).unlink(missing_ok=True)
    _break(templates, ["gemma3", "dots1"])
    catalog = yaml.safe_load((templates / "error_patterns.yaml").read_text())
    catalog["patterns"].insert(0, UNHELPFUL)
    (templates / "error_patterns.yaml").write_text(yaml.safe_dump(catalog, allow_unicode=True))
    (templates / repair.AUTO_FILE).parent.mkdir(exist_ok=True)
    (templates / repair.AUTO_FILE).write_bytes(SEED)
    env = {"HWCOV_TEMPLATES_DIR": templates, "HWCOV_DB_PATH": tmp / "db.duckdb", "HWCOV_GENERATED_DIR": tmp / "gen",
           "HWCOV_ARTIFACTS_DIR": tmp / "art", "DAGSTER_HOME": tmp / "dagster_home", "HF_HUB_OFFLINE": "1"}
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, str(value))
        from hwcov.cli import output
        from hwcov.orchestration import pipeline, repair_rerun

        repair.reset_process_caches()
        assert pipeline.run_pipeline(["cpu"], ["gemma3", "dots1"], None, workers=2, regenerate=True)
        before = _table(tmp / "db.duckdb", "SELECT model_type, status, error_message FROM hwcov.run_results")
        candidates, manual = repair.plan(output.results(), hardware=["cpu"])
        dagster = {"rerun": repair_rerun.rerun(), "run_id": repair_rerun.last_run_id, "log": lambda _: None}
        unhelpful = repair.auto_patch(output.results(), ["cpu"], ["dots1"], **dagster)
        after_revert = (templates / repair.AUTO_FILE).read_bytes()
        helpful = repair.auto_patch(output.results(), ["cpu"], ["gemma3"], **dagster)
        repair.reset_process_caches()
    yield {"tmp": tmp, "env": {k: str(v) for k, v in env.items()}, "templates": templates, "before": before,
           "candidates": candidates, "manual": manual, "unhelpful": unhelpful, "after_revert": after_revert,
           "helpful": helpful}
    repair.reset_process_caches()


def test_the_broken_architectures_fail_with_known_patterns(loop):
    status = {m: (s, e) for m, s, e in loop["before"]}
    assert status["gemma3"][0] == "fail_to_run" and "stride should not be zero" in status["gemma3"][1]
    assert status["dots1"][0] == "fail_to_run"
    found = {(c.pattern, tuple(c.model_types)) for c in loop["candidates"]}
    assert found == {("pooled_tokens_exceed_feature_map", ("gemma3",)), ("test_expert_count_unset", ("dots1",))}
    assert loop["manual"] == []
    gemma = next(c for c in loop["candidates"] if c.pattern == "pooled_tokens_exceed_feature_map")
    assert gemma.entries["gemma3"]["mm_tokens_per_image"] == 4  # top level of Gemma3Config


def test_a_fix_that_does_not_help_is_reverted_byte_for_byte(loop):
    (trial,) = loop["unhelpful"]
    assert not trial["kept"] and trial["success_rate_before"] == trial["success_rate_after"] == 0.0
    assert loop["after_revert"] == SEED
    db = loop["tmp"] / "db.duckdb"
    (row,) = _table(db, "SELECT status, r.test_hash = t.content_hash FROM hwcov.run_results r "
                        "JOIN hwcov.generated_tests t USING (model_type) WHERE model_type = 'dots1'")
    assert row == ("fail_to_run", True)  # the stored row matches the restored test again


def test_a_fix_that_helps_is_kept_and_recorded(loop):
    (trial,) = loop["helpful"]
    assert trial["kept"] and (trial["success_rate_before"], trial["success_rate_after"]) == (0.0, 1.0)
    auto = yaml.safe_load((loop["templates"] / repair.AUTO_FILE).read_text())
    assert auto["model_types"] == {"gemma3": {"mm_tokens_per_image": 4, "why": auto["model_types"]["gemma3"]["why"]}}
    db = loop["tmp"] / "db.duckdb"
    (row,) = _table(db, "SELECT status, device_name, output_checksum FROM hwcov.run_results WHERE model_type = 'gemma3'")
    assert row[0] == "pass" and row[1] and row[2]
    updates = _table(db, "SELECT generator_name, hardware_platform, affected_models, success_rate_before, "
                         "success_rate_after, model_types, patch_description FROM hwcov.generator_updates ORDER BY id")
    assert [u[:6] for u in updates] == [
        ("auto-patch test_expert_count_unset#0", "cpu", 1, 0.0, 0.0, json.dumps(["dots1"])),
        ("auto-patch pooled_tokens_exceed_feature_map#0", "cpu", 1, 0.0, 1.0, json.dumps(["gemma3"]))]
    assert updates[0][6].startswith("reverted") and updates[1][6].startswith("kept")


def test_cli_lists_what_is_left_and_suggests_manual_patches(loop):
    env = {**__import__("os").environ, **loop["env"]}
    ident = subprocess.run([HWCOV, "--identify-patch-patterns"], env=env, cwd=loop["tmp"], capture_output=True,
                           text=True, timeout=600)
    assert ident.returncode == 0, ident.stderr
    assert "0 failing architecture results can be patched" in ident.stdout  # gemma3 fixed, dots1 tried
    out = loop["tmp"] / "manual.md"
    manual = subprocess.run([HWCOV, "--suggest-manual-patches", "--output", str(out)], env=env, cwd=loop["tmp"],
                            capture_output=True, text=True, timeout=600)
    assert manual.returncode == 0, manual.stderr
    text = out.read_text()
    assert "## test_expert_count_unset on cpu (1)" in text and "| dots1 |" in text
    assert "was tried and reverted" in text and "Set n_routed_experts" in text
    assert "templates/tiny/overrides.yaml" in text and "gemma3" not in text
    # Nothing left to try: the reverted recipe is not retried without --force.
    again = subprocess.run([HWCOV, "--auto-patch-generators", "--hardware", "cpu"], env=env, cwd=loop["tmp"],
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "no stored failure has a machine-applicable fix" in again.stdout, again.stderr


@pytest.mark.parametrize("verb", ["--identify-patch-patterns", "--suggest-manual-patches", "--auto-patch-generators",
                                  "--analyze-trends"])
def test_repair_verbs_fail_cleanly_without_results(tmp_path, verb):
    duckdb.connect(str(tmp_path / "empty.duckdb")).close()
    for db in ("missing.duckdb", "empty.duckdb"):
        out = subprocess.run([HWCOV, verb, "--db-path", db], cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, (db, out.stderr)
    assert not (tmp_path / "missing.duckdb").exists()


def test_pass_rate_and_statuses_count_every_stored_row(tmp_path):
    """The store's shared before/after measures (the repair loop, --ci-mode and the generator-update sensor)."""
    from hwcov.store import database as store

    with duckdb.connect(str(tmp_path / "db.duckdb")) as con:
        con.execute("CREATE SCHEMA hwcov")
        con.execute("CREATE TABLE hwcov.run_results (model_type VARCHAR, hardware VARCHAR, status VARCHAR)")
        con.executemany("INSERT INTO hwcov.run_results VALUES (?, ?, ?)", [
            ("bert", "cpu", "pass"), ("bert", "cpu", "pass"), ("gpt2", "cpu", "pass"), ("gpt2", "cpu", "timeout"),
            ("gpt2", "cpu", "fail_to_run"), ("t5", "cuda", "pass")])
        assert store.pass_rate(con, "cpu", ["bert", "gpt2"]) == 0.6
        assert store.statuses(con, ["cpu", "cuda"]) == {("bert", "cpu"): "pass", ("gpt2", "cpu"): "fail_to_run",
                                                        ("t5", "cuda"): "pass"}
        assert store.statuses(con, ["cpu"], ["bert"]) == {("bert", "cpu"): "pass"}
        assert store.pass_rate(con, "cpu", []) == 0.0 and store.statuses(con, ["cpu"], []) == {}
