"""Shared fixtures: every test writes to its own temp database, artifacts and generated dir."""
import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

# One architecture per major category that passes on CPU: the representative sample CI runs.
SAMPLE = ["bert", "gpt2", "t5", "vit", "wav2vec2", "clip"]


@pytest.fixture
def hwcov_env(tmp_path, monkeypatch):
    monkeypatch.setenv("HWCOV_DB_PATH", str(tmp_path / "bench.duckdb"))
    monkeypatch.setenv("HWCOV_GENERATED_DIR", str(tmp_path / "generated"))
    monkeypatch.setenv("HWCOV_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    return tmp_path


@pytest.fixture(scope="session")
def archs():
    from hwcov.models import inventory

    return inventory.by_type()
