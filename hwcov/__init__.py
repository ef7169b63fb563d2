"""hwcov: which HuggingFace Transformers architectures run on which hardware, measured for real.

Importing any part of hwcov first turns the libraries' network switches off (hwcov/core/offline.py): whatever
imports onnxruntime, transformers or huggingface_hub next finds them already set."""
from hwcov.core.offline import no_telemetry

no_telemetry()
