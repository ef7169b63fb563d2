"""An export failure in its own words: the operator an exporter, converter or runtime names as unsupported, the
first lines of an exception chain (innermost last), and whether the failure was the machine's rather than the model's
(then it is not cached as the route's failure)."""
from __future__ import annotations

import re

# How exporters, converters and runtimes name an operator they can't handle, most specific first.
_OP = r"((?:aten|prim|onnx)(?:::|\.)[A-Za-z_][\w.]*)"
_UNSUPPORTED = [re.compile(p, re.I) for p in (
    r"No conversion rule found for operations?:\s*" + _OP,
    r"No ONNX function found for <OpOverload\(op='([\w.:]+)'",
    r"operator '?" + _OP + r"'? to ONNX opset version \d+ is not supported",
    r"Could not find an implementation for (\w+)\(\d+\) node",
    r"data type is not supported with (\w+)",
    r"(?:unsupported|not supported|no decomposition|is not implemented|not registered|no translation)[^\n]{0,120}?"
    + _OP,
    _OP + r"[^\n]{0,120}?(?:unsupported|not supported|is not implemented|no decomposition|not registered)",
)]


def unsupported_op(message: str) -> str:
    """The operator an export or runtime error names as unsupported, or ''."""
    return first_named(message, _UNSUPPORTED)


def first_named(message: str, patterns: list) -> str:
    """The first group of the first of `patterns` that `message` matches (a tool's own list: coremltools'), or ''."""
    for pattern in patterns:
        match = pattern.search(message)
        if match:
            return match.group(1)
    return ""


def machine_state(exc: BaseException) -> bool:
    """Out of memory or disk, or a package that doesn't import (an install, not the model: seen, executorch's exporter
    while torchao was missing), anywhere in the chain: a rerun on a healthier machine may export fine."""
    import errno

    return any(isinstance(e, (MemoryError, ImportError))
               or (isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT)) for e in chain(exc))


def chain(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def full_text(exc: BaseException) -> str:
    return "\n".join(str(e) for e in chain(exc))


def root_message(exc: BaseException) -> str:
    """The chain's first lines, innermost last (exporters wrap the converter's own words), and a converter's
    summary where it wrote one (OpenVINO lists the operators it had no rule for)."""
    parts = [str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__ for e in chain(exc)]
    text = full_text(exc)
    if "Summary:" in text:
        parts.append(" ".join(text.split("Summary:", 1)[1].split()))
    return " <- ".join(parts)
