"""Bad input (issue #28): one line on stderr, exit code 2, nothing run or written; Ctrl-C: one line, exit 130."""
import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hwcov.cli import main as cli
from hwcov.cli import verbs_run
from hwcov.core.schema import RESULT_COLUMNS
from hwcov.store import database as store

HWCOV = str(Path(sys.executable).with_name("hwcov"))
RUN = ["--model", "bert", "--hardware", "cpu"]


@pytest.fixture
def no_run(hwcov_env, monkeypatch):
    """Any input that gets as far as a sweep or a CI run fails the test instead of running for minutes."""
    def refuse(*args, **kwargs):
        raise AssertionError("bad input reached a run")

    monkeypatch.setattr(verbs_run, "sweep", refuse)
    monkeypatch.setattr(verbs_run, "ci_mode", refuse)
    return hwcov_env


def refused(argv, capsys) -> str:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


SECONDS = "must be a finite number of seconds in (0, 86400], got"


@pytest.mark.parametrize("argv, message", [
    (["--timeout", "nan"], f"--timeout {SECONDS} nan"),
    (["--timeout", "inf"], f"--timeout {SECONDS} inf"),
    (["--timeout=-5"], f"--timeout {SECONDS} -5"),
    (["--timeout", "0"], f"--timeout {SECONDS} 0"),
    (["--timeout", "1e9"], f"--timeout {SECONDS} 1e9"),
    (["--workers", "-1"], "--workers must be an integer in [0, 1024], got -1"),
    (["--workers", "1e9"], "--workers must be an integer in [0, 1024], got 1e9"),
    (["--top", "0"], "--top must be an integer in [1, 1000], got 0"),
    (["--min-duration", "nan"], "--min-duration must be a finite number of seconds in (0, 3600], got nan"),
    (["--full-matrix-models", "-1"], "--full-matrix-models must be an integer in [0, 100000], got -1"),
    (["--batch-size", "0"], "--batch-size must be comma-separated integers in [1, 4096], got 0"),
    (["--batch-size", "1,99999999"], "--batch-size must be comma-separated integers in [1, 4096]"),
    (["--batch-sizes", "1,nan"], "--batch-sizes must be comma-separated integers in [1, 4096]"),
    (["--seq-lens", "1e12"], "--seq-lens must be comma-separated integers in [1, 131072]"),
    (["--seq-lens", ","], "--seq-lens must be comma-separated integers in [1, 131072], got ','"),
])
def test_every_numeric_option_has_a_finite_bounded_range(no_run, capsys, argv, message):
    assert message in refused([*RUN, *argv], capsys)


@pytest.mark.parametrize("argv, message", [
    (["--model", "", "--hardware", "cpu"], "--model needs at least one name, got ''"),
    (["--model", ",", "--hardware", "cpu"], "--model needs at least one name, got ','"),
    (["--model", "bert", "--hardware", " , "], "--hardware needs at least one name"),
    (["--priority", "bogus", *RUN], "--priority must be one of highest, high, medium, all, got bogus"),
    (["--modes", "forward,dyn", *RUN], "--modes: unknown mode dyn; accepted: forward, dynamic, generate"),
    (["--modes", "", *RUN], "--modes needs at least one name, got ''"),
])
def test_empty_lists_and_unknown_choices_are_refused_without_ci_mode(no_run, capsys, argv, message):
    assert message in refused(argv, capsys)


def test_priority_is_checked_before_a_file_is_written(no_run, capsys):
    out = no_run / "schedule.json"
    err = refused(["--priority", "bogus", "--generate-schedule-config", "--output", str(out)], capsys)
    assert "--priority" in err and not out.exists()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_db(path: Path) -> int:
    """A real hwcov database, big enough to span many blocks; its size."""
    with store.connect(path) as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS hwcov")
        con.execute(store.table_ddl("run_results", RESULT_COLUMNS))
        cols = ", ".join(f"{'i' if kind == 'int' else 'i * 0.5' if kind == 'float' else repr(name) + ' || i'}"
                         for name, kind in RESULT_COLUMNS.items())
        con.execute(f"INSERT INTO hwcov.run_results SELECT {cols} FROM range(100000) t(i)")
        con.execute("CHECKPOINT")
    return path.stat().st_size


def truncate(path: Path, size: int) -> None:
    os.truncate(path, size // 2)


def flip_middle(path: Path, size: int) -> None:
    """Bytes flipped across the middle half (one spot can fall in a block's unused tail, which nothing reads)."""
    with open(path, "r+b") as f:
        for offset in range(size // 4, 3 * size // 4, 64 * 1024):
            f.seek(offset)
            chunk = f.read(16)
            f.seek(offset)
            f.write(bytes(b ^ 0xFF for b in chunk))


@pytest.mark.parametrize("damage", [truncate, flip_middle])
@pytest.mark.parametrize("argv", [["--report"], ["--export-results", "--output", "OUT"], RUN])
def test_a_damaged_database_is_refused_untouched(no_run, capsys, damage, argv):
    db = no_run / "bench.duckdb"
    damage(db, make_db(db))
    before = sha256(db)
    err = refused([str(no_run / "x.csv") if a == "OUT" else a for a in argv], capsys)
    assert str(db) in err and "not a usable DuckDB database" in err, err
    assert sha256(db) == before and not (no_run / "x.csv").exists()


def test_help_prints_text_not_argparse_internals():
    lines = cli.parser().format_help().splitlines()
    assert not [line for line in lines if "{'" in line or re.search(r"\bdict\b", line)]
    assert "REGRESSION when > 10% slower" in " ".join(" ".join(lines).split())


def test_ctrl_c_during_a_run_is_one_line_and_exit_130(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "DAGSTER_HOME": str(tmp_path / "dagster_home"),
           "HWCOV_ARTIFACTS_DIR": str(tmp_path / "artifacts")}
    # six models: a sweep that lasts seconds, so the interrupt lands inside it (one bert case took 0.14 s under load)
    proc = subprocess.Popen([HWCOV, "--model", "bert,gpt2,t5,vit,clip,wav2vec2", "--hardware", "cpu", "--db-path",
                             str(tmp_path / "db.duckdb"), "--generated-dir", str(tmp_path / "generated")],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 180
    results = tmp_path / "artifacts" / "results"  # the sweep streams its rows there (HWCOV_ARTIFACTS_DIR): under way
    while not results.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    time.sleep(0.5)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)  # hwcov's own process: Dagster's helper processes are not hwcov's to quiet
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert err.strip().splitlines()[-1] == "hwcov: interrupted", err


def test_a_model_spelled_with_underscores_or_capitals_is_the_model(hwcov_env):
    from hwcov.cli import validate

    assert validate.check_models(["deberta_v2", "Wav2Vec2_BERT", "xlm_roberta", "bert", "BERT"]) == \
        ["deberta-v2", "wav2vec2-bert", "xlm-roberta", "bert"]


def test_an_unknown_model_near_a_known_one_is_answered_with_did_you_mean(no_run, capsys):
    err = refused(["--model", "bertt", "--hardware", "cpu"], capsys)
    assert "unknown model bertt; did you mean 'bert'" in err
