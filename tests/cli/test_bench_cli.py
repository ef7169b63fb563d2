"""The benchmark/profiling verbs: profiles measured in an isolated worker and stored; bad input refused."""
import pytest

from hwcov.cli import main as cli
from hwcov.store import database as store


def test_layer_and_memory_profiles_are_stored_and_replaced(hwcov_env, capsys):
    db = hwcov_env / "bench.duckdb"
    args = ["--model", "bert", "--hardware", "cpu,openvino", "--seq-lens", "16"]
    assert cli.main(["--layer-profile", *args]) == 0
    out = capsys.readouterr().out
    assert "## bert on cpu" in out and "torch.profiler" in out and "openvino PERF_COUNT" in out
    assert cli.main(["--memory-profile", *args]) == 0
    with store.connect(db, read_only=True) as con:
        layers = store.read_table(con, "layer_profiles")
        memory = store.read_table(con, "memory_profiles")
    assert set(layers.hardware) == {"cpu", "openvino"} and (layers.seq_len == 16).all()
    assert set(memory.stage) == {"build", "export", "load", "first_run", "steady"}
    assert cli.main(["--layer-profile", *args[:2], "--hardware", "openvino", "--seq-lens", "16"]) == 0
    with store.connect(db, read_only=True) as con:  # the same cell's profile replaced, the other kept
        again = store.read_table(con, "layer_profiles")
    assert set(again.hardware) == {"cpu", "openvino"} and not again.duplicated(["hardware", "layer"]).any()
    assert len(again[again.hardware == "cpu"]) == len(layers[layers.hardware == "cpu"])


@pytest.mark.parametrize("argv,message", [
    (["--layer-profile", "--hardware", "cpu"], "exactly one --model"),
    (["--memory-profile", "--model", "bert,gpt2", "--hardware", "cpu"], "exactly one --model"),
    (["--benchmark-baseline", "--model", "bert"], "needs --hardware"),
    (["--benchmark", "--model", "bert"], "--benchmark needs --hardware"),
    (["--benchmark", "--hardware", "cpu", "--full-matrix-models", "-1"],
     "--full-matrix-models must be an integer in [0, 100000], got -1"),
    (["--optimization-impact"], "no database"),
    (["--layer-profile", "--model", "bert", "--hardware", "cpu", "--seq-lens", "x"], "integers"),
])
def test_bad_benchmark_input_is_one_line_and_exit_2(hwcov_env, capsys, argv, message):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (hwcov_env / "bench.duckdb").exists()
