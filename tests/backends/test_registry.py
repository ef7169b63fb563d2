"""The hardware registry is the one table: partitions, resources, generated tests' precisions and backends follow it."""
import ast
import importlib
from dataclasses import replace

import pytest

from hwcov.backends import registry
from hwcov.backends.base import Backend
from hwcov.cases import generate
from hwcov.core.schema import PRECISIONS
from hwcov.definitions import defs
from hwcov.models.inventory import by_type
from hwcov.resources.backends import RESOURCE_KEYS, BackendResource, resource_key


def test_every_entry_is_complete_and_names_a_real_backend():
    assert len(registry.BY_KEY) == len(registry.HARDWARE_TABLE), "a hardware key is listed twice"
    for hw in registry.HARDWARE_TABLE:
        assert hw.precisions and set(hw.precisions) <= set(PRECISIONS), hw.key
        module, cls = hw.backend.split(":")
        backend_cls = getattr(importlib.import_module(module), cls)
        assert issubclass(backend_cls, Backend) and backend_cls.family, hw.key
        backend = registry.get_backend(hw.key)
        assert backend.hardware == hw.key
        assert hw.precisions[0] in backend.precisions(), f"{hw.key} can't run its own reference precision"


def test_partitions_and_resources_are_derived_from_it():
    graph = defs.resolve_asset_graph()
    run_results = graph.get(next(k for k in graph.get_all_asset_keys() if k.path[-1] == "run_results"))
    assert tuple(run_results.partitions_def.get_partition_keys()) == registry.all_hardware()
    bound = {k for k, v in defs.resources.items() if isinstance(v, BackendResource)}
    assert bound == {hw.resource for hw in registry.HARDWARE_TABLE}
    for hw in registry.HARDWARE_TABLE:
        assert RESOURCE_KEYS[hw.key] == resource_key(hw.key) == hw.resource
        limits = defs.resources[hw.resource].limits(hw.key)
        assert (limits.timeout_s, limits.memory_mb) == (hw.timeout_s, hw.memory_mb)
        if not hw.cpu_bound:  # one stream on the device (cpu-bound: one worker per core)
            assert limits.workers == 1, hw.key


def test_generated_tests_declare_the_registrys_precisions(monkeypatch):
    """Change one entry's precisions: the rendered test changes with it (no second table to forget)."""
    def declared(content: str) -> dict:
        node = next(n for n in ast.parse(content).body if isinstance(n, ast.Assign) and n.targets[0].id == "PRECISIONS")
        return ast.literal_eval(node.value)

    content, _ = generate.render(by_type()["bert"])
    assert declared(content) == {hw.key: hw.precisions for hw in registry.HARDWARE_TABLE}
    changed = replace(registry.BY_KEY["onnxruntime"], precisions=("fp32",))
    monkeypatch.setitem(registry.BY_KEY, "onnxruntime", changed)
    assert declared(generate.render(by_type()["bert"])[0])["onnxruntime"] == ("fp32",)


def test_a_key_without_a_backend_yet_is_refused_not_invented(monkeypatch):
    monkeypatch.setitem(registry.BY_KEY, "cuda", replace(registry.BY_KEY["cuda"], backend=""))
    with pytest.raises(NotImplementedError, match="not implemented yet"):
        registry.get_backend("cuda")
