"""Custom hardware platforms from JSON in the seed's format, validated field by field.

A platform adds a hardware key backed by an existing backend family. Values are data
only: the seed's code-bearing fields (import_statements, device_initialization,
device_setup) are accepted for compatibility and never executed or rendered.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from hwcov.core.errors import ConfigError
from hwcov.core.limits import DEFAULT_TIMEOUT_S
from hwcov.core.schema import PRECISIONS

KEY_RE = re.compile(r"^[a-z][a-z0-9_]{1,31}$")
# backend_type -> the built-in hardware key whose backend serves the platform
BACKEND_TYPES = {"torch": "cpu", "onnxruntime": "onnxruntime", "openvino": "openvino"}
IGNORED_CODE_FIELDS = ("import_statements", "device_initialization", "device_setup", "device_flag")
PLATFORMS_ENV = "HWCOV_PLATFORMS_DIR"


class PlatformError(ConfigError):
    """A platform file that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class Platform:
    platform_key: str
    platform_name: str
    backend_type: str
    supported_precisions: tuple[str, ...]
    preferred_precision: str
    memory_constraint_mb: int = 0
    default_batch_size: int = 1
    default_timeout_seconds: float = DEFAULT_TIMEOUT_S
    core_count: int = 0
    execution_provider: str = ""
    device: str = ""
    optimization_flags: dict = field(default_factory=dict)

    @property
    def base_hardware(self) -> str:
        return BACKEND_TYPES[self.backend_type]


def _need(d: dict, name: str, kind, where: str, default=None, required=True):
    if name not in d:
        if required:
            raise PlatformError(f"{where}: missing required field '{name}'")
        return default
    value = d[name]
    ok = isinstance(value, kind) and not (kind in (int, (int, float)) and isinstance(value, bool))
    if not ok:
        names = kind.__name__ if isinstance(kind, type) else "number"
        raise PlatformError(f"{where}: field '{name}' must be {names}, got {type(value).__name__} {value!r}")
    return value


def parse(data, where: str, reserved: tuple[str, ...] = ()) -> Platform:
    if not isinstance(data, dict):
        raise PlatformError(f"{where}: expected a JSON object, got {type(data).__name__}")
    key = _need(data, "platform_key", str, where)
    if not KEY_RE.match(key):
        raise PlatformError(f"{where}: field 'platform_key' {key!r} must match {KEY_RE.pattern}")
    if key in reserved:
        raise PlatformError(f"{where}: platform_key {key!r} is a built-in hardware key; choose another")
    backend = _need(data, "backend_type", str, where)
    if backend not in BACKEND_TYPES:
        raise PlatformError(f"{where}: field 'backend_type' {backend!r} unknown; accepted: {', '.join(BACKEND_TYPES)}")
    precisions = _need(data, "supported_precisions", list, where)
    bad = [p for p in precisions if p not in PRECISIONS]
    if not precisions or bad:
        raise PlatformError(f"{where}: field 'supported_precisions' has {bad or 'nothing'}; accepted: {', '.join(PRECISIONS)}")
    preferred = _need(data, "preferred_precision", str, where, default=precisions[0], required=False)
    if preferred not in precisions:
        raise PlatformError(f"{where}: field 'preferred_precision' {preferred!r} is not in supported_precisions")
    numbers = {}
    for name, kind, default in (("memory_constraint_mb", int, 0), ("default_batch_size", int, 1),
                                ("default_timeout_seconds", (int, float), DEFAULT_TIMEOUT_S), ("core_count", int, 0)):
        value = _need(data, name, kind, where, default=default, required=False)
        if value < 0 or (name in ("default_batch_size", "default_timeout_seconds") and value <= 0):
            raise PlatformError(f"{where}: field '{name}' must be positive, got {value!r}")
        numbers[name] = value
    flags = _need(data, "optimization_flags", dict, where, default={}, required=False)
    for k, v in flags.items():
        if not isinstance(v, (bool, int, float, str)):
            raise PlatformError(f"{where}: optimization_flags.{k} must be a plain value, got {type(v).__name__}")
    return Platform(
        platform_key=key, platform_name=_need(data, "platform_name", str, where), backend_type=backend,
        supported_precisions=tuple(precisions), preferred_precision=preferred,
        execution_provider=_need(data, "execution_provider", str, where, default="", required=False),
        device=_need(data, "device", str, where, default="", required=False),
        optimization_flags=dict(flags), **numbers)


def load_file(path: Path, reserved: tuple[str, ...] = ()) -> Platform:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise PlatformError(f"{path}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
    except OSError as exc:
        raise PlatformError(f"{path}: cannot read: {exc.strerror}")
    return parse(data, str(path), reserved)


def platforms_dir() -> Path:
    return Path(os.environ.get(PLATFORMS_ENV, "platforms")).resolve()


def load_all(reserved: tuple[str, ...] = ()) -> list[Platform]:
    """Every defined platform, sorted by key (skips nothing silently: a bad file raises)."""
    folder = platforms_dir()
    found = [load_file(p, reserved) for p in sorted(folder.glob("*.json"))] if folder.is_dir() else []
    for p, path in zip(found, sorted(folder.glob("*.json")) if folder.is_dir() else []):
        if path.stem != p.platform_key:
            raise PlatformError(f"{path}: platform_key {p.platform_key!r} must match the file name {path.stem!r}")
    return found


def define(key: str, properties: Path, reserved: tuple[str, ...]) -> Path:
    """Validate a properties file for `key` and store it in the platforms folder (nothing on error)."""
    platform = load_file(properties, reserved)
    if platform.platform_key != key:
        raise PlatformError(f"{properties}: platform_key {platform.platform_key!r} differs from --define-hardware {key!r}")
    folder = platforms_dir()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{key}.json"
    tmp = target.with_suffix(".tmp")
    tmp.write_text(Path(properties).read_text(encoding="utf-8"), encoding="utf-8")
    tmp.replace(target)
    return target
