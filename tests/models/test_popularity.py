"""--test-by-popularity: a shipped, dated ranking with its source named, and a real run of its top N."""
import datetime
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import yaml

from hwcov.core import data, paths
from hwcov.models import popularity

HWCOV = str(Path(sys.executable).with_name("hwcov"))


def test_the_shipped_ranking_names_its_source_and_date_and_matches_transformers():
    spec = popularity.load()
    assert "huggingface.co/models" in spec["source"] and isinstance(spec["compiled"], datetime.date)
    present, missing = popularity.ranked()
    assert len(present) >= 50 and len(missing) <= 5, missing  # names are real model types of transformers
    assert present[:3] == ["bert", "mpnet", "roberta"]
    assert all(isinstance(r, int) for r in spec["ranks"].values())  # ranks only: no invented download counts


def test_top_n_follows_rank_and_skips_what_is_not_installed():
    assert popularity.top_models(3, known={"gpt2", "clip", "bert", "not_in_ranking"}) == ["bert", "clip", "gpt2"]
    assert popularity.top_models(10, known={"vit"}) == ["vit"]
    with pytest.raises(popularity.PopularityError):
        popularity.top_models(0)


@pytest.mark.parametrize("change, message", [
    (lambda s: s.pop("source"), "'source' is missing"),
    (lambda s: s.update(compiled="recently"), "'compiled' must be a date"),
    (lambda s: s["ranks"].update(gpt2=1), "share a rank"),
    (lambda s: s["ranks"].update(bert=-1), "positive integer"),
    (lambda s: s["checkpoints"].update(bert=["../../etc"]), "must be hub ids owner/name"),
    (lambda s: s["checkpoints"].update(nonesuch=["a/b"]), "which has no rank"),
])
def test_a_bad_ranking_file_is_refused(tmp_path, monkeypatch, change, message):
    templates = tmp_path / "templates"
    shutil.copytree(paths.templates_dir(), templates)  # the shipped ones, or $HWCOV_TEMPLATES_DIR
    spec = yaml.safe_load((templates / "popularity.yaml").read_text())
    change(spec)
    (templates / "popularity.yaml").write_text(yaml.safe_dump(spec))
    monkeypatch.setenv("HWCOV_TEMPLATES_DIR", str(templates))
    data.clear_cache()
    try:
        with pytest.raises(popularity.PopularityError, match=message):
            popularity.load()
        out = subprocess.run([HWCOV, "--test-by-popularity", "--top", "2"], cwd=tmp_path, capture_output=True,
                             text=True, timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        assert out.returncode == 2 and message in out.stderr and len(out.stderr.strip().splitlines()) == 1
        assert not (tmp_path / "benchmark_db.duckdb").exists()
    finally:
        data.clear_cache()


def test_cli_runs_the_top_n_on_cpu(tmp_path):
    """...and the top N's popular checkpoints found in the local Hugging Face cache (here a tiny BERT saved under
    bert's most downloaded id); the ones not cached are named, never downloaded."""
    from tests.models.checkpoint_factory import into_hf_cache, save_bert

    cache = tmp_path / "hub"
    into_hf_cache(save_bert(tmp_path / "src"), cache, "google-bert/bert-base-uncased")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache)}
    bad = subprocess.run([HWCOV, "--test-by-popularity", "--top", "0"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=300, env=env)
    assert bad.returncode == 2 and "--top must be an integer in [1, 1000], got 0" in bad.stderr
    out = subprocess.run([HWCOV, "--test-by-popularity", "--top", "2", "--hardware", "cpu"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=900, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "top 2 by popularity (Hugging Face Hub" in out.stderr and "compiled 20" in out.stderr
    with duckdb.connect(str(tmp_path / "benchmark_db.duckdb"), read_only=True) as con:
        rows = con.execute("SELECT model_type, status FROM hwcov.run_results WHERE hardware = 'cpu'").fetchall()
    assert sorted(rows) == [("bert", "pass"), ("mpnet", "pass")]
    assert "in the local Hugging Face cache: google-bert/bert-base-uncased; not cached (never downloaded): " \
           "sentence-transformers/all-MiniLM-L6-v2, sentence-transformers/all-mpnet-base-v2" in out.stderr
    with duckdb.connect(str(tmp_path / "benchmark_db.duckdb"), read_only=True) as con:
        mine = con.execute("SELECT checkpoint, model_type, precision, status FROM hwcov.checkpoint_results "
                           "ORDER BY precision").fetchall()
    assert mine == [("google-bert/bert-base-uncased", "bert", p, "pass") for p in ("bf16", "fp16", "fp32")]
