"""The result journal survives a torn last line (a writer killed mid-line): reading skips it, reporting it once,
and the next append starts on a fresh line, so one rerun recovers."""
import json

from hwcov.bench.cells import BenchJournal
from hwcov.cases import generate
from hwcov.run import sweep
from hwcov.run.journal import ResultJournal


def _row(model: str, key: str) -> dict:
    return {"model_type": model, "precision": "fp32", "batch_size": 1, "status": "pass", "case_key": key}


def _tear(path) -> None:
    """Cut the file in the middle of its last line, as a writer killed mid-write leaves it."""
    data = path.read_bytes()
    last = data.rstrip(b"\n").rfind(b"\n") + 1
    path.write_bytes(data[:last + (len(data) - last) // 2])


def test_a_torn_last_line_is_skipped_once_reported_and_the_next_append_starts_a_fresh_line(tmp_path, capsys):
    for journal in (ResultJournal(tmp_path, "cpu"), BenchJournal(tmp_path, "cpu")):  # the subclass shares the fix
        journal.append(_row("bert", "k1"))
        journal.append(_row("gpt2", "k2"))
        _tear(journal.path)
        journal.path.write_bytes(journal.path.read_bytes() + b"\xc3")  # half a UTF-8 character, too
        assert [r["model_type"] for r in journal.rows()] == ["bert"]
        assert [r["model_type"] for r in journal.rows()] == ["bert"]
        err = capsys.readouterr().err
        assert err.count(f"{journal.path}:2") == 1 and "torn" in err  # reported once, not on every read
        journal.append(_row("gpt2", "k3"))
        assert [r["case_key"] for r in journal.rows()] == ["k1", "k3"]
        assert set(journal.latest_by_case()) == {("bert", "fp32", 1), ("gpt2", "fp32", 1)}
        assert journal.path.read_bytes().endswith(b"\n")


def test_a_line_that_is_json_but_no_row_is_skipped(tmp_path, capsys):
    journal = ResultJournal(tmp_path, "cpu")
    journal.append(_row("bert", "k1"))
    with open(journal.path, "a", encoding="utf-8") as fh:
        fh.write("12\n\n[1, 2]\n")
    journal.append(_row("gpt2", "k2"))
    assert [r["case_key"] for r in journal.rows()] == ["k1", "k2"]
    assert set(journal.by_key()) == {"k1", "k2"}


def test_a_sweep_after_a_torn_journal_keeps_the_other_rows_and_reruns_only_the_torn_case(archs, tmp_path):
    tests = generate.generate([archs["bert"], archs["gpt2"], archs["vit"]], tmp_path / "gen")
    quiet = {"progress": False, "log": lambda m: None}
    art, everything = tmp_path / "art", {"bert", "gpt2", "vit"}
    journal = ResultJournal(art, "cpu")
    first = sweep.sweep(tests[:2], "cpu", art, **quiet)
    torn = json.loads(journal.path.read_text().splitlines()[-1])["model_type"]
    _tear(journal.path)
    # An unrelated run (vit only) keeps the partition's rows it can read, and its own row lands whole.
    rows = sweep.assemble(sweep.sweep(tests[2:], "cpu", art, **quiet), journal, everything)
    assert {r["model_type"] for r in rows} == everything - {torn}
    assert {r["model_type"] for r in journal.latest_by_case().values()} == everything - {torn}
    # The next full run reruns the torn case only; its row and every earlier one stand.
    before = len(journal.rows())
    again = sweep.sweep(tests, "cpu", art, **quiet)
    assert [r["model_type"] for r in journal.rows()[before:]] == [torn]
    assert {r["model_type"] for r in sweep.assemble(again, journal, everything)} == everything
    assert {r["model_type"]: r["status"] for r in again if r["model_type"] in {"bert", "gpt2"}} == \
        {r["model_type"]: r["status"] for r in first}
    # And the run after that reruns nothing.
    lines = len(journal.rows())
    sweep.sweep(tests, "cpu", art, **quiet)
    assert len(journal.rows()) == lines


def test_publishing_is_exclusive_and_dagster_stores_an_output_before_the_asset_resumes(tmp_path):
    """Two runs publishing one hardware queue on a file lock; run_results holds it across its `yield Output`, which
    is only safe because Dagster hands the output to the IO manager before resuming the asset - checked here."""
    import fcntl
    import os

    from dagster import IOManager, Output, asset, io_manager, materialize

    journal = ResultJournal(tmp_path, "cpu")
    lock_file = journal.path.with_suffix(".publish.lock")

    lock_file.parent.mkdir(parents=True)

    def held_elsewhere() -> bool:
        fd = os.open(lock_file, os.O_WRONLY | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a new open file description: conflicts like a process
            return False
        except BlockingIOError:
            return True
        finally:
            os.close(fd)

    seen = []

    class Recording(IOManager):
        def handle_output(self, context, obj):
            seen.append(held_elsewhere())

        def load_input(self, context):
            return None

    @asset(io_manager_key="recording")
    def published():
        with journal.publishing():
            yield Output(1)

    assert not held_elsewhere()
    assert materialize([published], resources={"recording": io_manager(lambda _: Recording())}).success
    assert seen == [True] and not held_elsewhere()
