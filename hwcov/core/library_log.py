"""Where the libraries' own warnings go: a file, off the terminal, in every process of a run.

kernels' "Skipping publisher trust check" offline, transformers' per-model config notes, torchao's load warnings and
torch.onnx's registry notes (the fork server builds its operator registry: "torchvision is not installed") would print
around the progress bar. The caller routes them once and names the file in its environment,
so the processes it starts (the case fork server and its workers, page hosts) route theirs to the same file.
"""
from __future__ import annotations

import os
from pathlib import Path

ENV = "HWCOV_LIBRARY_LOG"
LIBRARY_LOGGERS = ("kernels", "transformers", "huggingface_hub", "torchao", "torch.utils._pytree", "torch.onnx")
_routed: dict = {}  # the handler this process routes them to, replaced when the file changes


def announce(path: Path) -> None:
    """Name `path` to the processes this one starts from now on (route() does too; this alone imports nothing, so a
    process that starts one first, the case fork server, needn't wait for transformers' import)."""
    os.environ[ENV] = str(path)


def route(path: Path) -> None:
    """Send LIBRARY_LOGGERS to `path` (transformers' own stderr handler set aside)."""
    import logging

    import transformers.utils.logging as hf_logging

    announce(path)
    if _routed.get("path") == path:
        _set_aside_terminal_handlers()  # a library imported since may have added its own (torch's, for torch.onnx)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s"))
    hf_logging.get_logger("transformers")  # configures its library root logger (and its stderr handler) now
    hf_logging.disable_default_handler()
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        if _routed.get("handler") is not None:
            logger.removeHandler(_routed["handler"])
        logger.addHandler(handler)
        logger.propagate = False
    if _routed.get("handler") is not None:
        _routed["handler"].close()
    _routed.update(path=path, handler=handler)
    _set_aside_terminal_handlers()


def _set_aside_terminal_handlers() -> None:
    """Drop the stderr handlers the libraries attach to these loggers themselves (torch's logging gives torch.onnx one
    when torch is imported): the file is where their records go."""
    import logging
    import sys

    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            if type(handler) is logging.StreamHandler and handler.stream in (sys.stderr, sys.__stderr__):
                logger.removeHandler(handler)


def route_inherited() -> None:
    """Route them where the process that started this one does, if it does."""
    if os.environ.get(ENV):
        route(Path(os.environ[ENV]))
