"""Custom hardware platforms from the seed's JSON format."""
import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from hwcov.backends import platforms
from hwcov.backends.registry import HARDWARE, all_hardware, get_backend

HWCOV = str(Path(sys.executable).with_name("hwcov"))
GOOD = {"platform_name": "Small CPU", "platform_key": "cpu_small", "backend_type": "torch",
        "memory_constraint_mb": 4096, "supported_precisions": ["fp32"], "preferred_precision": "fp32",
        "default_batch_size": 1, "default_timeout_seconds": 60, "core_count": 1,
        "import_statements": ["import os; os.system('touch /tmp/hwcov_pwned')"]}


@pytest.mark.parametrize("change, message", [
    ({"memory_constraint_mb": "lots"}, "field 'memory_constraint_mb': must be int, got str 'lots'"),
    ({"backend_type": "abacus"}, "field 'backend_type': 'abacus' unknown; accepted: torch"),
    ({"supported_precisions": ["fp64"]}, "field 'supported_precisions': has ['fp64']"),
    ({"preferred_precision": "int8"}, "'preferred_precision' 'int8' is not in supported_precisions"),
    ({"platform_key": 'x"; import os #'}, "field 'platform_key'"),
    ({"platform_key": "cpu"}, "built-in hardware key"),
    ({"default_timeout_seconds": 0}, "field 'default_timeout_seconds': must be greater than 0"),
    ({"optimization_flags": {"a": [1]}}, "optimization_flags.a must be a plain value"),
])
def test_each_bad_field_is_named(change, message):
    with pytest.raises(platforms.PlatformError, match=None) as exc:
        platforms.parse({**GOOD, **change}, "p.json", reserved=HARDWARE)
    assert message in str(exc.value) and str(exc.value).startswith("p.json: ")


@pytest.mark.parametrize("raw, message", [
    ('"default_timeout_seconds": NaN', "field 'default_timeout_seconds': must be finite"),
    ('"default_timeout_seconds": Infinity', "field 'default_timeout_seconds': must be finite"),
    ('"default_timeout_seconds": 1e9', "field 'default_timeout_seconds': must be at most 86400"),
    ('"memory_constraint_mb": 1e30', "field 'memory_constraint_mb': must be int"),
    ('"memory_constraint_mb": 1000000000000000000000000000000', "field 'memory_constraint_mb': must be at most"),
    ('"core_count": 1000000000', "field 'core_count': must be at most 4096"),
    ('"default_batch_size": true', "field 'default_batch_size': must be int"),
    ('"platform_name": ""', "field 'platform_name'"),
    ('"device": 5', "field 'device': must be str"),
])
def test_numbers_are_finite_and_bounded_and_the_error_is_one_line(tmp_path, raw, message):
    """JSON's NaN/Infinity and absurd sizes (a 1e30 MB cap, a billion cores) are refused by field name."""
    text = json.dumps(GOOD)
    key = raw.split(":")[0]
    if key in text:  # replace the field's value, keeping the rest of GOOD
        start = text.index(key)
        end = min(i for i in (text.find(",", start), text.find("}", start)) if i >= 0)
        text = text[:start] + raw + text[end:]
    else:
        text = text[:-1] + ", " + raw + "}"
    (tmp_path / "p.json").write_text(text)
    with pytest.raises(platforms.PlatformError) as exc:
        platforms.load_file(tmp_path / "p.json", reserved=HARDWARE)
    line = str(exc.value)
    assert message in line and line.startswith(f"{tmp_path / 'p.json'}: ") and "\n" not in line, line


def test_missing_field_and_broken_json(tmp_path):
    with pytest.raises(platforms.PlatformError, match="missing required field 'platform_name'"):
        platforms.parse({k: v for k, v in GOOD.items() if k != "platform_name"}, "p.json")
    (tmp_path / "b.json").write_text("{oops")
    with pytest.raises(platforms.PlatformError, match="not valid JSON"):
        platforms.load_file(tmp_path / "b.json")


def test_defined_platform_becomes_hardware_and_respects_its_precisions(tmp_path, monkeypatch):
    monkeypatch.setenv(platforms.PLATFORMS_ENV, str(tmp_path / "platforms"))
    (tmp_path / "p.json").write_text(json.dumps(GOOD))
    platforms.define("cpu_small", tmp_path / "p.json", reserved=HARDWARE)
    assert all_hardware()[-1] == "cpu_small"
    backend = get_backend("cpu_small")
    assert backend.probe().device_name.startswith("Small CPU via cpu: ")
    assert backend.run(None, "fp16", 1)["status"] == "not_applicable"


def test_cli_defines_runs_and_reports_a_platform_and_never_executes_its_code(tmp_path):
    (tmp_path / "p.json").write_text(json.dumps(GOOD))
    (tmp_path / "bad.json").write_text(json.dumps({**GOOD, "platform_key": "cpu_bad", "core_count": -1}))
    bad = subprocess.run([HWCOV, "--define-hardware", "cpu_bad", "--properties", "bad.json"], cwd=tmp_path,
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "core_count" in bad.stderr and not (tmp_path / "platforms").exists()
    ok = subprocess.run([HWCOV, "--define-hardware", "cpu_small", "--properties", "p.json", "--model", "bert",
                         "--hardware", "cpu_small"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert ok.returncode == 0, ok.stderr
    with duckdb.connect(str(tmp_path / "benchmark_db.duckdb"), read_only=True) as con:
        (row,) = con.execute("SELECT status, device_name FROM hwcov.run_results WHERE hardware = 'cpu_small'").fetchall()
        assert row[0] == "pass" and row[1].startswith("Small CPU via cpu")
        assert con.execute("SELECT count(*) FROM hwcov.coverage_report WHERE hardware = 'cpu_small'").fetchall()[0][0] > 0
    assert not Path("/tmp/hwcov_pwned").exists()
