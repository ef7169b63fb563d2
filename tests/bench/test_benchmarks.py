"""benchmark_results materialized for real: every figure measured, throughput consistent with latency."""
import duckdb
import pytest
from dagster import DagsterInstance, materialize
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from hwcov.definitions import build_defs
from hwcov.models.inventory import CATEGORIES


@pytest.fixture
def project(hwcov_env):
    """(database path, run(selection, **kwargs)) with the inventory and generated tests materialized."""
    db = hwcov_env / "bench.duckdb"
    defs = build_defs(str(db), str(hwcov_env / "generated"), str(hwcov_env / "artifacts"))
    instance = DagsterInstance.ephemeral()

    def run(selection, **kwargs):
        assert materialize(list(defs.assets), instance=instance, resources=defs.resources, selection=selection,
                           **kwargs).success

    run(["hwcov/model_inventory", "hwcov/generated_tests"],
        tags={ASSET_PARTITION_RANGE_START_TAG: CATEGORIES[0], ASSET_PARTITION_RANGE_END_TAG: CATEGORIES[-1]})
    return db, run


def test_benchmark_cells_on_cpu(project):
    db, run = project
    run(["hwcov/run_results"], partition_key="cpu",
        run_config={"ops": {"hwcov__run_results": {"config": {"models": ["bert", "gpt2"]}}}})
    run(["hwcov/benchmark_results"], partition_key="cpu", run_config={"ops": {"hwcov__benchmark_results": {"config": {
        "models": ["bert", "gpt2"], "batch_sizes": [1, 2], "seq_lens": [16, 4096], "min_duration_s": 0.2,
        "full_matrix_models": 1}}}})
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("SELECT * FROM hwcov.benchmark_results").df()
    # bert (priority 1) gets the whole 2 x 2 matrix, gpt2 its first cell only.
    assert sorted(zip(rows.model_type, rows.batch_size, rows.seq_len)) == [
        ("bert", 1, 16), ("bert", 1, 4096), ("bert", 2, 16), ("bert", 2, 4096), ("gpt2", 1, 16)]
    assert set(rows[rows.seq_len == 4096]["status"]) == {"not_applicable"}  # beyond max positions
    ran = rows[rows.status == "pass"]
    assert len(ran) == 3 and (ran.iterations >= 10).all() and (ran.p50_ms > 0).all()
    assert ran.warmup.between(1, 5).all()  # what ran before the clock, as the warmup budget allowed
    assert (ran.p50_ms <= ran.p99_ms).all() and (ran.load_ms > 0).all() and (ran.peak_rss_mb > 0).all()
    for r in ran.itertuples():  # no figure but a measurement: throughput is batch / mean latency
        assert r.throughput_items_s == pytest.approx(r.batch_size / (r.mean_ms / 1000), rel=1e-9)
        assert r.device_name.startswith("cpu: ")


def test_resume_measures_only_cells_the_journal_lacks_or_that_crashed(project, hwcov_env):
    import json

    from hwcov.bench import cells as benchmark

    db, run = project
    run(["hwcov/run_results"], partition_key="cpu",
        run_config={"ops": {"hwcov__run_results": {"config": {"models": ["bert", "gpt2"]}}}})
    cfg = {"models": ["bert", "gpt2"], "batch_sizes": [1], "seq_lens": [16], "min_duration_s": 0.05}

    def bench(**extra):
        run(["hwcov/benchmark_results"], partition_key="cpu",
            run_config={"ops": {"hwcov__benchmark_results": {"config": {**cfg, **extra}}}})
        with duckdb.connect(str(db), read_only=True) as con:
            return con.execute("SELECT model_type, status FROM hwcov.benchmark_history").fetchall()

    assert sorted(bench()) == [("bert", "pass"), ("gpt2", "pass")]
    assert len(bench(resume=True)) == 2  # both cells in the journal: nothing measured again
    journal = benchmark.BenchJournal(hwcov_env / "artifacts", "cpu")
    crashed = {**journal.latest_by_cell()[("gpt2", "cpu", "fp32", 1, 16, "eager")], "status": "crash"}
    with open(journal.path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(crashed) + "\n")
    history = bench(resume=True)  # the crashed cell runs again, alone
    assert sorted(history) == [("bert", "pass"), ("gpt2", "pass"), ("gpt2", "pass")]


def test_exported_backends_variants_history_and_every_stored_row_consistent(project):
    """onnxruntime and openvino cells with their baseline and optimized variants; a narrower rerun keeps the other
    cells (journal) and adds to the history; every stored row: throughput = batch / mean latency."""
    from hwcov.bench import cells as benchmark
    from hwcov.reports import analysis
    from hwcov.store import database as store

    db, run = project
    cell = {"models": ["bert"], "batch_sizes": [1, 2], "seq_lens": [16], "precisions": ["fp32"],
            "min_duration_s": 0.05}
    for hw in ("onnxruntime", "openvino"):
        run(["hwcov/run_results"], partition_key=hw,
            run_config={"ops": {"hwcov__run_results": {"config": {"models": ["bert"]}}}})
        run(["hwcov/benchmark_results"], partition_key=hw, run_config={"ops": {"hwcov__benchmark_results": {
            "config": {**cell, "variants": ["all"]}}}})
    # a narrower rerun: only the baseline at batch 1 -- the other cells stay, the history grows
    run(["hwcov/benchmark_results"], partition_key="onnxruntime", run_config={"ops": {"hwcov__benchmark_results": {
        "config": {**cell, "batch_sizes": [1], "variants": ["baseline"]}}}})
    with store.connect(db, read_only=True) as con:
        rows = store.read_table(con, "benchmark_results")
        history = store.read_table(con, "benchmark_history")
    expected = {(hw, v, b) for hw in ("onnxruntime", "openvino") for v in benchmark.variants_for(hw, "all")
                for b in (1, 2)}
    assert set(zip(rows.hardware, rows.variant, rows.batch_size)) == expected and len(rows) == len(expected)
    assert len(history) == len(expected) + 1  # every measurement, the rerun's included
    assert (rows.status == "pass").all(), rows[rows.status != "pass"][["variant", "error_message"]]
    for table in (rows, history):  # no figure but a measurement, in every stored row
        for r in table.itertuples():
            assert r.throughput_items_s == pytest.approx(r.batch_size / (r.mean_ms / 1000), rel=1e-9)
            assert r.iterations >= 10 and r.load_ms > 0 and r.first_run_ms > 0 and r.machine and r.runtime_version
    assert (rows.max_abs_diff <= 1e-4).all() and set(rows.export_route) <= {"hf-onnx", "torch-onnx-legacy",
                                                                          "hf-openvino", "ov-from-onnx", "ov-from-torch"}
    impact = analysis.optimization_impact(rows)
    assert "| onnxruntime | ort_enable_all | 2 |" in impact and "| openvino | ov_throughput | 2 |" in impact
    trends = analysis.performance_trends(history)
    assert "in 1 cells measured at least twice" in trends


def test_max_positions_reads_the_text_config_and_treats_negative_as_unbounded():
    import transformers

    from hwcov.bench import cells as benchmark

    assert benchmark.max_positions(transformers.CLIPConfig()) == 77  # kept in text_config
    assert benchmark.max_positions(transformers.XLNetConfig()) == 0  # -1: no position table
    assert benchmark.max_positions(transformers.BertConfig(max_position_embeddings=64)) == 64
    roberta = transformers.RobertaConfig(max_position_embeddings=64, pad_token_id=1, hidden_size=32,
                                         num_hidden_layers=1, num_attention_heads=2, intermediate_size=37)
    # positions start after padding_idx: index 64 would be out of the table at sequence 64
    assert benchmark.max_positions(roberta, transformers.RobertaModel(roberta)) == 62
    assert benchmark.max_positions(transformers.ReformerConfig(axial_pos_shape=[4, 2])) == 8  # axial table


def test_a_text_tied_to_the_audio_is_measured_at_the_templates_max_seq_len(archs):
    """voxtral_realtime's tokens follow its audio frames (templates/inputs.d/audio.yaml max_seq_len 8): the
    coverage cell runs at 8, a longer fixed cell is not_applicable and says why."""
    from hwcov.bench import cells as benchmark
    from hwcov.cases import generate

    case = generate.case_for(archs["voxtral_realtime"])
    fitted = benchmark.run_cell(case, "cpu", "fp32", 1, 16, min_duration_s=0.01, fit_positions=True)
    assert (fitted["status"], fitted["seq_len"], fitted["planned_seq_len"]) == ("pass", 8, 16), fitted
    fixed = benchmark.run_cell(case, "cpu", "fp32", 1, 16, min_duration_s=0.01)
    assert fixed["status"] == "not_applicable" and "sequence 16 > max_seq_len 8" in fixed["error_message"]


def test_the_coverage_cell_of_a_short_model_is_measured_at_its_positions(project, hwcov_env):
    """clip's text tower holds 77 positions: its first (coverage) cell runs at 77 and says so; a longer cell of
    the matrix stays not_applicable; the measured row supersedes an older row of the planned cell."""
    from hwcov.bench import cells as benchmark

    db, run = project
    run(["hwcov/run_results"], partition_key="cpu",
        run_config={"ops": {"hwcov__run_results": {"config": {"models": ["clip"]}}}})
    run(["hwcov/benchmark_results"], partition_key="cpu", run_config={"ops": {"hwcov__benchmark_results": {"config": {
        "models": ["clip"], "batch_sizes": [1], "seq_lens": [128, 256], "min_duration_s": 0.05}}}})
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("SELECT seq_len, status, error_message FROM hwcov.benchmark_results ORDER BY 1").fetchall()
    assert [r[:2] for r in rows] == [(77, "pass"), (256, "not_applicable")], rows
    assert "sequence 256 > max positions 77" in rows[1][2]
    cells = benchmark.BenchJournal(hwcov_env / "artifacts", "cpu")
    assert ("clip", "cpu", "fp32", 1, 128, "eager") in cells.latest_by_cell(planned=True)
    assert ("clip", "cpu", "fp32", 1, 128, "eager") not in cells.latest_by_cell()


def test_a_database_from_before_the_warmup_column_gets_it_where_the_io_manager_inserts_it(tmp_path):
    from hwcov.bench import cells as benchmark
    from hwcov.store import database as store

    names = list(benchmark.BENCH_COLUMNS)
    older = {k: benchmark.BENCH_COLUMNS[k] for k in names[:names.index("warmup")]}  # the table before that column
    with duckdb.connect(str(tmp_path / "older.duckdb")) as con:
        con.execute("CREATE SCHEMA hwcov")
        con.execute(store.table_ddl("benchmark_results", older))
        store.add_missing_columns(con, "benchmark_results", benchmark.BENCH_COLUMNS)
        columns = [r[0] for r in con.execute("SELECT column_name FROM information_schema.columns WHERE table_name = "
                                             "'benchmark_results' ORDER BY ordinal_position").fetchall()]
    assert columns == list(benchmark.BENCH_COLUMNS)  # positions match the frame's, column for column
