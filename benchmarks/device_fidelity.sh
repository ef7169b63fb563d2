#!/usr/bin/env bash
# benchmark_fidelity.py on a lent machine (issue #32: the method's bounds on a quiet host), from the wheel bundle:
#   here:  python benchmarks/device_bundle.py --check        (.device/wheels, carried by the device call)
#   there: bash benchmarks/device_fidelity.sh $OUT [runs] [seconds per run limit]
# Only the cpu runtime travels (onnxruntime, onnx and openvino wheels would not fit the call's 64 MiB); the device's
# own torch runs it. Each run is pinned to one core that nothing else uses and runs after the previous one ends.
set -uo pipefail
out=${1:?usage: device_fidelity.sh OUT [runs] [limit_s]}; runs=${2:-3}; limit=${3:-170}
site=/tmp/hwcov-device-site
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$site" .device/wheels/*.whl
export PYTHONPATH="$site:$PWD" HF_HUB_OFFLINE=1 PYTORCH_NVML_BASED_CUDA_CHECK=1
python3 -c "import platform, os, torch, transformers; print(platform.processor() or platform.machine(), os.cpu_count(), 'cpus; torch', torch.__version__, '; transformers', transformers.__version__)" > "$out/env.txt" 2>&1
grep -m1 "model name" /proc/cpuinfo >> "$out/env.txt"; cat /proc/loadavg >> "$out/env.txt"
for i in $(seq 1 "$runs"); do
  cat /proc/loadavg > "$out/run$i.txt"
  timeout "$limit" taskset -c 3 python3 benchmarks/benchmark_fidelity.py --runtimes cpu >> "$out/run$i.txt" 2>&1
  echo "exit $?" >> "$out/run$i.txt"
done
tail -n 3 "$out"/run*.txt
