"""Custom hardware platforms from JSON in the seed's format, validated by a pydantic model (PlatformFile).

A platform adds a hardware key backed by an existing backend family. Values are data only, typed strictly (a
string where a number is due is refused, not converted), numbers finite and bounded (JSON's NaN/Infinity, a 1e30 MB
memory cap, a billion cores are refused). The seed's code-bearing fields (import_statements, device_initialization,
device_setup, device_flag) are accepted for compatibility and never executed or rendered. The first error, by field
name, is one line: "<file>: field 'default_timeout_seconds': must be finite, got float nan".
"""
from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)

from hwcov.core.errors import ConfigError
from hwcov.core.limits import DEFAULT_TIMEOUT_S
from hwcov.core.schema import PRECISIONS

KEY_RE = re.compile(r"^[a-z][a-z0-9_]{1,31}\Z")
# backend_type -> the built-in hardware key whose backend serves the platform
BACKEND_TYPES = {"torch": "cpu", "onnxruntime": "onnxruntime", "openvino": "openvino"}
IGNORED_CODE_FIELDS = ("import_statements", "device_initialization", "device_setup", "device_flag")
PLATFORMS_ENV = "HWCOV_PLATFORMS_DIR"
MAX_MEMORY_MB = 16 * 1024 * 1024  # 16 TiB
MAX_BATCH = 4096
MAX_TIMEOUT_S = 86400  # a day per case, as `hwcov --timeout`
MAX_CORES = 4096


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


class PlatformFile(BaseModel):
    """The JSON as written: strict types, finite bounded numbers; unknown fields (the seed's code) ignored."""
    model_config = ConfigDict(strict=True, allow_inf_nan=False, extra="ignore", frozen=True)

    platform_key: StrictStr
    platform_name: StrictStr = Field(min_length=1, max_length=200)
    backend_type: StrictStr
    supported_precisions: list[StrictStr] = Field(min_length=1)
    preferred_precision: StrictStr | None = None
    memory_constraint_mb: StrictInt = Field(0, ge=0, le=MAX_MEMORY_MB)  # 0: the base hardware's cap
    default_batch_size: StrictInt = Field(1, ge=1, le=MAX_BATCH)
    default_timeout_seconds: float = Field(DEFAULT_TIMEOUT_S, gt=0, le=MAX_TIMEOUT_S)
    core_count: StrictInt = Field(0, ge=0, le=MAX_CORES)  # 0: one worker
    execution_provider: StrictStr = ""
    device: StrictStr = ""
    optimization_flags: dict[StrictStr, Any] = Field(default_factory=dict)

    @field_validator("platform_key")
    @classmethod
    def key_form(cls, key: str) -> str:
        if not KEY_RE.match(key):
            raise ValueError(f"{key!r} must match {KEY_RE.pattern}")
        return key

    @field_validator("backend_type")
    @classmethod
    def known_backend(cls, backend: str) -> str:
        if backend not in BACKEND_TYPES:
            raise ValueError(f"{backend!r} unknown; accepted: {', '.join(BACKEND_TYPES)}")
        return backend

    @field_validator("supported_precisions")
    @classmethod
    def known_precisions(cls, precisions: list[str]) -> list[str]:
        bad = [p for p in precisions if p not in PRECISIONS]
        if bad:
            raise ValueError(f"has {bad}; accepted: {', '.join(PRECISIONS)}")
        return precisions

    @field_validator("optimization_flags")
    @classmethod
    def plain_flags(cls, flags: dict) -> dict:
        for key, value in flags.items():
            if not isinstance(value, (bool, int, float, str)):
                raise ValueError(f"optimization_flags.{key} must be a plain value (bool, number, string), "
                                 f"got {type(value).__name__}")
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"optimization_flags.{key} must be finite, got {value}")
        return flags

    @model_validator(mode="after")
    def preferred_is_supported(self) -> "PlatformFile":
        if self.preferred_precision is not None and self.preferred_precision not in self.supported_precisions:
            raise ValueError(f"field 'preferred_precision' {self.preferred_precision!r} is not in "
                             "supported_precisions")
        return self


TYPE_NAMES = {"int_type": "int", "float_type": "a number", "string_type": "str", "list_type": "a list",
              "dict_type": "a JSON object", "bool_type": "bool"}


def one_line(exc: ValidationError, where: str) -> str:
    """The first error of a ValidationError, by field name, as one line."""
    err = exc.errors(include_url=False)[0]
    name = ".".join(str(part) for part in err["loc"])
    kind, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
    got = f", got {type(value).__name__} {str(repr(value))[:80]}"
    if kind == "missing":
        return f"{where}: missing required field '{name}'"
    if kind == "value_error":
        text = str(ctx.get("error", err["msg"]))
        return f"{where}: {text}" if text.startswith("field '") else f"{where}: field '{name}': {text}"
    if kind in TYPE_NAMES:
        text = f"must be {TYPE_NAMES[kind]}"
    elif kind == "finite_number":
        text = "must be finite"
    elif kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        word = {"greater_than": "greater than", "greater_than_equal": "at least", "less_than": "less than",
                "less_than_equal": "at most"}[kind]
        text = f"must be {word} {next(iter(ctx.values()))}"
    elif kind in ("too_short", "string_too_short"):
        text = "must not be empty"
    else:
        text = err["msg"].replace("Input should", "must").replace("\n", " ")
    return f"{where}: field '{name}': {text}{got}"


def parse(data, where: str, reserved: tuple[str, ...] = ()) -> Platform:
    if not isinstance(data, dict):
        raise PlatformError(f"{where}: expected a JSON object, got {type(data).__name__}")
    try:
        spec = PlatformFile.model_validate(data)
    except ValidationError as exc:
        raise PlatformError(one_line(exc, where)) from None
    if spec.platform_key in reserved:
        raise PlatformError(f"{where}: platform_key {spec.platform_key!r} is a built-in hardware key; choose another")
    values = spec.model_dump()
    values["supported_precisions"] = tuple(spec.supported_precisions)
    values["preferred_precision"] = spec.preferred_precision or spec.supported_precisions[0]
    return Platform(**values)


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
