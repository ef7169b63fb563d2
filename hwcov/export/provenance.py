"""What an export depends on besides the model: the packages that wrote it and the part of hwcov's own code that ran.

Both go into its cache key (hwcov.export.routes.cache_path), so a change invalidates exactly the exports it affects:
a new transformers or onnxscript re-exports everything; a fix in one route's exporter (its function, or a helper it
calls) re-exports that route's graphs and retries that route's recorded failures, and leaves the other routes' cached
exports, and the gigabytes they hold, in place. hwcov's part is found from the route's entry functions by following
the names their code uses to other functions of hwcov (closures' captured functions and options included), so the
digest covers what runs, not the files it happens to share.
"""
from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.util
import inspect
import types

# packages every route's graph depends on, and those only some routes' do (a .pte is read by the executorch that
# wrote it)
PACKAGES = ("transformers", "torch", "onnx", "onnxscript", "openvino")
ROUTE_PACKAGES = {"hf-executorch": ("executorch",)}


@functools.cache
def versions(route: str = "") -> str:
    """The installed versions of what writes `route`'s graphs. Kept per process (a package can't change under one
    that has imported it): importlib.metadata parses each package's METADATA file again on every call, ~25 ms a case;
    the fork server fills this before it forks (hwcov.run.preloaded)."""
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for package in PACKAGES + ROUTE_PACKAGES.get(route, ()):
        try:
            found.append(f"{package} {version(package)}")
        except PackageNotFoundError:
            pass
    return "; ".join(found)


def _ours(obj) -> bool:
    return getattr(obj, "__module__", "").startswith("hwcov.")


def _names(code: types.CodeType):
    """Every name a function's code (and the functions defined inside it) looks up or imports."""
    yield from code.co_names
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _names(const)


def _modules(fn, names: set) -> list[types.ModuleType]:
    """hwcov's modules `fn` can reach: its globals that are such modules, and those it imports inside its body
    (`from hwcov.export import onnx_symbolics` names both `hwcov.export` and `onnx_symbolics`)."""
    found = [v for n in names if isinstance(v := fn.__globals__.get(n), types.ModuleType)]
    for name in names:
        if name.startswith("hwcov."):
            found.append(importlib.import_module(name))
    for package in [m for m in found if hasattr(m, "__path__")]:  # a submodule, imported or not yet
        found += [importlib.import_module(f"{package.__name__}.{n}") for n in names
                  if n.isidentifier() and importlib.util.find_spec(f"{package.__name__}.{n}") is not None]
    return [m for m in found if m.__name__.startswith("hwcov.")]


def reachable(*entries, stop=()) -> dict[str, str]:
    """{qualified name: source} of hwcov's functions that `entries` reach: through the globals their code names, the
    modules it names or imports (a module's function it names: `onnx_symbolics.register`), their closures' cells and a
    partial's function; a captured value that is not a function is part of the source (a route's options). Functions
    in `stop` are neither included nor followed (the cache's own bookkeeping)."""
    found: dict[str, str] = {}
    todo, stop = list(entries), set(stop)
    while todo:
        fn = todo.pop()
        if isinstance(fn, functools.partial):
            todo.append(fn.func)
            continue
        fn = inspect.unwrap(fn)  # a decorated function (functools.cache): the code under it
        if not isinstance(fn, types.FunctionType) or not _ours(fn) or fn in stop:
            continue
        key = f"{fn.__module__}.{fn.__qualname__}"
        if key in found:
            continue
        captured = []
        for cell in fn.__closure__ or ():
            value = cell.cell_contents
            todo.append(value) if callable(value) else captured.append(repr(value))
        found[key] = inspect.getsource(fn) + "".join(f"\n# captured {c}" for c in sorted(captured))
        names = set(_names(fn.__code__))
        todo += [v for n in names if callable(v := fn.__globals__.get(n))]
        todo += [v for m in _modules(fn, names) for n in names if callable(v := getattr(m, n, None))]
    return found


def digest(*entries, stop=()) -> str:
    """sha256 over the sources `reachable(*entries, stop=stop)` finds, in name order (16 hex digits)."""
    h = hashlib.sha256()
    for name, source in sorted(reachable(*entries, stop=stop).items()):
        h.update(name.encode())
        h.update(source.encode())
    return h.hexdigest()[:16]
