"""The process's one openvino.Core, for every read, compile, probe and property query hwcov makes.

Why one: each Core's CPU plugin points the thread's alternate signal stack at a buffer of its own and, released,
puts back the one it found; Cores released in another order than made leave a freed buffer installed, and the next
Python signal handler (the mode deadline's SIGALRM, a Ctrl-C) then dies as SIGSEGV. One Core also loads the plugin
once per process. It lives in the export layer, the lowest that reads OpenVINO IR (the dynamic mode's declared
shapes); the backend compiles on the same one.
"""
from __future__ import annotations

import functools


@functools.cache
def core():
    """The one Core (made at first use: importing openvino starts a TBB thread, which a fork server must not hold)."""
    import openvino

    return openvino.Core()
