"""Shared fixtures: every test writes to its own temp database, artifacts and generated dir."""
import collections
import functools
import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

def needs_browser():
    """The skip mark of a test that runs onnxruntime-web in Chromium, saying what is missing where it is."""
    from hwcov.backends.browser import jobs, server

    return pytest.mark.skipif(not (os.path.exists(jobs.CHROMIUM) and server.ORT_DIST.is_dir()),
                              reason=f"needs {jobs.CHROMIUM} and {server.ORT_DIST} (run .ci/setup)")


def perturbed_reference(arch, reference_dir, delta: float = 1e-2):
    """bert's (arch's) CPU fp32 reference stored under reference_dir with every output moved by `delta`: a run
    judged against it must fail by that much. (the case, the stored file)"""
    import numpy as np

    from hwcov.backends.exported import reference_outputs
    from hwcov.cases import generate
    from hwcov.models.build import build_case, reference_path

    case = generate.case_for(arch)
    reference, _ = reference_outputs(build_case(case, 1), case, 1, None)
    path = reference_path(reference_dir, case, 1)
    path.parent.mkdir(parents=True)
    np.savez(path, **{k: v + delta for k, v in reference.items()})
    return case, path


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


class ExportCalls(collections.Counter):
    """Export attempts per route in this process (a rerun that hits the cache makes none): each route function of
    hwcov.export.routes.ROUTE_EXPORTERS wrapped with a counter for the test's duration."""

    def __init__(self, monkeypatch):
        super().__init__()
        from hwcov.export import routes

        self.monkeypatch, self.table = monkeypatch, routes.ROUTE_EXPORTERS
        for route, fn in list(self.table.items()):
            self.add(route, fn)

    def add(self, route: str, fn) -> None:
        """Put (or replace) a route's exporter, counted (wrapped: its code digest is the exporter's own)."""
        @functools.wraps(fn)
        def counted(*args, **kwargs):
            self[route] += 1
            return fn(*args, **kwargs)

        self.monkeypatch.setitem(self.table, route, counted)


@pytest.fixture
def export_calls(monkeypatch):
    return ExportCalls(monkeypatch)
