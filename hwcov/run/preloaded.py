"""Imported by the case fork server (hwcov.run.runner) once, before it forks any case: torch, transformers and
hwcov's case code, so each fork starts warm. Nothing here may start a thread pool (no forward, no session)."""
import gc
import threading

import tqdm

from hwcov.core import library_log
from hwcov.run.runner import preload, read_case_data, warm_imports

library_log.route_inherited()  # the libraries' import-time warnings too go where the caller's go
preload()
warm_imports()

import hwcov.run.sweep  # noqa: E402,F401  every sweep case's entry point
from hwcov.backends.browser.jobs import chromium_version
from hwcov.export import warm
from hwcov.export.provenance import versions

library_log.route_inherited()  # again: torch's own logging gave torch.onnx a stderr handler on import
versions()  # every case's export key and row name the packages' versions: read once here, not per fork
chromium_version()  # ... and a browser case's row names Chromium's (`chromium --version`: ~60 ms a fork)
read_case_data()  # the template data every case reads, once (a case re-reads what was edited since)
warm.warm()  # torch.export / torch.onnx / onnxscript and transformers' patch targets: ~1.3 s of every export case

# tqdm's default lock is a multiprocessing semaphore made on a case's first bar (torch.export's interpreter shows
# one); a case ends with os._exit, so each left one for the resource tracker to warn about when the caller exits.
# A case's bars only ever print from its own process.
tqdm.tqdm.set_lock(threading.RLock())

# Last: what the server holds (~590,000 objects) moves to the collector's permanent generation, so a case's full
# collections don't walk it again (a 20 s export spent 1.7 s collecting, 0.7 s after this) nor write its pages that
# a fork shares (the gc.freeze use Python's documentation gives for fork without exec).
gc.freeze()
