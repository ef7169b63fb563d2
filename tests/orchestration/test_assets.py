"""The assets materialized for real: temp DuckDB file, temp Dagster instance."""
import duckdb
import pandas as pd
import pytest
from dagster import DagsterInstance, Failure, materialize
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from hwcov.assets.guards import non_empty
from hwcov.definitions import build_defs
from hwcov.models.inventory import CATEGORIES
from tests.conftest import SAMPLE


def _run(defs, instance, selection, **kwargs):
    result = materialize(list(defs.assets), instance=instance, resources=defs.resources, selection=selection,
                         **kwargs)
    assert result.success
    return result


def _models(config_models):
    return {"ops": {"hwcov__run_results": {"config": {"models": config_models}}}}


@pytest.fixture
def pipeline(hwcov_env):
    db = hwcov_env / "bench.duckdb"
    defs = build_defs(str(db), str(hwcov_env / "generated"), str(hwcov_env / "artifacts"))
    instance = DagsterInstance.ephemeral()
    _run(defs, instance, ["hwcov/model_inventory", "hwcov/generated_tests"],
         tags={ASSET_PARTITION_RANGE_START_TAG: CATEGORIES[0], ASSET_PARTITION_RANGE_END_TAG: CATEGORIES[-1]})
    return defs, instance, db


def _sql(db, query):
    with duckdb.connect(str(db), read_only=True) as con:
        return con.sql(query).df()


def test_inventory_backfill_is_one_run_over_all_categories(pipeline, archs):
    defs, instance, db = pipeline
    assert len(instance.get_runs()) == 1
    inv = _sql(db, "SELECT * FROM hwcov.model_inventory")
    assert len(inv) == len(archs) and set(inv["category"]) == set(CATEGORIES)
    tests = _sql(db, "SELECT * FROM hwcov.generated_tests")
    assert len(tests) == len(archs)


def test_cpu_partition_results_patterns_and_report(pipeline):
    defs, instance, db = pipeline
    first = _run(defs, instance, ["hwcov/run_results", "hwcov/error_patterns"], partition_key="cpu",
                 run_config=_models(SAMPLE + ["llava"]))
    evaluations = {e.check_name: e.passed for e in first.get_asset_check_evaluations()}
    assert {e.partition for e in first.get_asset_check_evaluations()} == {"cpu"}  # each check names its partition
    assert evaluations == {"no_duplicate_rows": True, "pass_has_evidence": True, "pass_rate_not_dropping": True,
                           "selection_complete": True, "inventory_complete": False}  # only 7 of the inventory ran: the check says so
    res = _sql(db, "SELECT * FROM hwcov.run_results")
    assert set(res["model_type"]) == set(SAMPLE) | {"llava"} and set(res["hardware"]) == {"cpu"}
    # the pass rate as a float the UI can plot over time (issue 29), equal to what the table holds
    meta = first.asset_materializations_for_node("hwcov__run_results")[0].metadata
    assert meta["pass_rate cpu/fp32/1"].value == pytest.approx((res["status"] == "pass").mean(), abs=1e-4)
    passed = res[res["status"] == "pass"]
    assert set(SAMPLE) <= set(passed["model_type"])
    assert passed["device_name"].str.len().min() > 0 and passed["output_checksum"].str.len().min() == 16
    refs = passed["reference_path"]  # relative to the database's folder: a copied folder keeps its references
    assert refs.str.len().min() > 0 and not refs.str.startswith("/").any()
    assert all((db.parent / r).exists() for r in refs)
    assert (res[res["status"] != "pass"]["error_pattern"].str.len() > 0).all()

    # A filtered rerun of one model keeps the partition's other rows; the same run twice keeps the count.
    _run(defs, instance, ["hwcov/run_results"], partition_key="cpu", run_config=_models(["bert"]))
    _run(defs, instance, ["hwcov/run_results"], partition_key="cpu", run_config=_models(["bert"]))
    again = _sql(db, "SELECT * FROM hwcov.run_results")
    assert len(again) == len(res) and set(again["model_type"]) == set(res["model_type"])

    _run(defs, instance, ["hwcov/run_results", "hwcov/error_patterns"], partition_key="cuda",
         run_config=_models(["bert"]))
    cuda = _sql(db, "SELECT * FROM hwcov.run_results WHERE hardware = 'cuda'")
    assert list(cuda["status"]) == ["unavailable"] and cuda["error_message"][0]

    _run(defs, instance, ["hwcov/coverage_report"])
    cov = _sql(db, "SELECT * FROM hwcov.coverage_report")
    assert set(cov["hardware"]) == {"cpu", "cuda"}
    assert cov[(cov.model_type == "bert") & (cov.hardware == "cpu")]["status"].item() == "pass"
    seed = _sql(db, "SELECT * FROM comprehensive_test_results WHERE hardware_platform = 'cpu'")
    assert len(seed) == len(res) and seed["test_success"].sum() == (res["status"] == "pass").sum()
    matrix = _sql(db, "SELECT * FROM hardware_compatibility_matrix WHERE architecture_name = 'bert'")
    assert set(matrix["hardware_platform"]) == {"cpu", "cuda"}
    assert _sql(db, "SELECT count(*) AS n FROM model_architecture_coverage")["n"][0] == len(_sql(
        db, "SELECT * FROM hwcov.model_inventory"))
    _run(defs, instance, ["hwcov/coverage_report"])
    history = _sql(db, "SELECT DISTINCT snapshot_at FROM hwcov.coverage_history")
    assert len(history) == 2  # each materialization adds a snapshot
    assert (hwcov_report := (db.parent / "artifacts" / "coverage_report.md")).exists()
    assert "| cpu |" in hwcov_report.read_text()


def test_unknown_model_in_run_config_fails_the_run_and_keeps_rows(pipeline):
    defs, instance, db = pipeline
    result = materialize(list(defs.assets), instance=instance, resources=defs.resources, partition_key="cpu",
                         selection=["hwcov/run_results"], run_config=_models(["no_such_model"]),
                         raise_on_error=False)
    assert not result.success
    with duckdb.connect(str(db), read_only=True) as con:
        assert "run_results" not in {r[0] for r in con.sql("SELECT table_name FROM information_schema.tables").fetchall()}


def test_empty_output_is_refused():
    with pytest.raises(Failure):
        non_empty(pd.DataFrame(), "run_results[cpu]")


def test_a_results_table_from_before_new_columns_gains_them_on_the_next_write(tmp_path):
    """Dagster's pandas handler inserts by position: a stored run_results made before columns were appended to the
    schema gets them (with their types) before the frame is inserted, and keeps its old rows."""
    import duckdb
    from dagster import StaticPartitionsDefinition, asset, materialize

    from hwcov.core.schema import RESULT_COLUMNS, conform
    from resources.io import duckdb_io_manager

    db = tmp_path / "old.duckdb"
    names = list(RESULT_COLUMNS)
    older = names[:names.index("max_rel_error")]
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE SCHEMA hwcov")
        frame = conform([{"model_type": "bert", "hardware": "cpu", "status": "pass"}])[older]
        con.register("f", frame)
        con.execute("CREATE TABLE hwcov.run_results AS SELECT * FROM f")

    @asset(key_prefix="hwcov", partitions_def=StaticPartitionsDefinition(["onnxruntime"]),
           metadata={"partition_expr": "hardware"})
    def run_results():
        return conform([{"model_type": "bert", "hardware": "onnxruntime", "status": "pass", "max_rel_error": 1e-7,
                         "inert_blocks": "layers.1"}])

    assert materialize([run_results], partition_key="onnxruntime",
                       resources={"io_manager": duckdb_io_manager(str(db))}).success
    with duckdb.connect(str(db)) as con:
        stored = con.execute("SELECT * FROM hwcov.run_results ORDER BY hardware").df()
    assert list(stored.columns) == names and list(stored["hardware"]) == ["cpu", "onnxruntime"]
    assert stored["max_rel_error"].iloc[1] == 1e-7 and stored["inert_blocks"].iloc[1] == "layers.1"


def test_materialize_all_leaves_browser_partitions_out_unless_asked(pipeline):
    """A run over several hardware partitions (the UI's "Materialize all", a backfill) refuses the browser ones, which
    take hours, before sweeping anything; one browser partition alone, or the run config's flag, is a choice."""
    from hwcov.assets.run_results import BROWSER, browser_guard

    defs, instance, db = pipeline
    result = materialize(list(defs.assets), instance=instance, resources=defs.resources,
                         selection=["hwcov/run_results"], raise_on_error=False,
                         tags={ASSET_PARTITION_RANGE_START_TAG: "webgpu", ASSET_PARTITION_RANGE_END_TAG: "wasm"})
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure).step_failure_data.error
    assert "include_browser_partitions: true" in (failure.cause or failure).message
    with duckdb.connect(str(db), read_only=True) as con:
        assert "run_results" not in {r[0] for r in con.sql("SELECT table_name FROM information_schema.tables").fetchall()}
    assert set(BROWSER) == {"webnn", "webgpu", "wasm"}
    assert browser_guard(["wasm"], False) == "" and browser_guard(["cpu", "openvino"], False) == ""
    assert browser_guard(["cpu", "wasm"], True) == "" and "wasm" in browser_guard(["cpu", "wasm"], False)
    assert "a backfill includes wasm" in browser_guard(["wasm"], False, backfill=True)  # one run per partition
    assert browser_guard(["cpu"], False, backfill=True) == ""


def test_an_unknown_mode_in_the_run_config_fails_the_run_before_it_sweeps(pipeline):
    """The launchpad takes any string for `modes`: one that is none of MODES is named, and nothing runs."""
    defs, instance, db = pipeline
    config = {"ops": {"hwcov__run_results": {"config": {"models": ["bert"], "modes": ["forward", "dynamc"]}}}}
    result = materialize(list(defs.assets), instance=instance, resources=defs.resources, partition_key="cpu",
                         selection=["hwcov/run_results"], run_config=config, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure).step_failure_data.error
    assert "unknown mode 'dynamc'" in (failure.cause or failure).message
    with duckdb.connect(str(db), read_only=True) as con:
        assert "run_results" not in {r[0] for r in con.sql("SELECT table_name FROM information_schema.tables").fetchall()}


def test_each_partition_of_a_multi_partition_run_describes_itself(pipeline):
    """A run over cuda..mps (in process, as the CLI or a script may launch one); each partition's materialization says
    that partition's rows and pass rates, not the run's (issue #29)."""
    defs, instance, db = pipeline
    result = _run(defs, instance, ["hwcov/run_results"], run_config=_models(["bert", "gpt2"]),
                  tags={ASSET_PARTITION_RANGE_START_TAG: "cuda", ASSET_PARTITION_RANGE_END_TAG: "mps"})
    stored = _sql(db, "SELECT hardware, count(*) AS n FROM hwcov.run_results GROUP BY hardware")
    assert dict(zip(stored["hardware"], stored["n"])) == {"cuda": 2, "rocm": 2, "mps": 2}
    for event in result.asset_materializations_for_node("hwcov__run_results"):
        meta, hw = event.metadata, event.partition
        assert meta["rows"].value == 2 and set(meta["pass_rates"].value) == {f"{hw}/fp32/1"}
        assert [k for k in meta if k.startswith("pass_rate ")] == [f"pass_rate {hw}/fp32/1"]
