"""Build the wheel bundle a lent GPU machine needs to run hwcov's engine, here, where PyPI is reachable.

    python benchmarks/device_bundle.py                 # wheels for the device (CPython 3.12, manylinux x86_64)
    python benchmarks/device_bundle.py --check         # + prove they install there: pip --dry-run, --no-index
    python benchmarks/device_bundle.py --python-version 3.11 --out /tmp/b   # the same set for this machine

The device has torch (another version, CUDA), numpy and scipy but not our transformers, no dagster and no
duckdb, and no network. What travels: every distribution the engine imports (hwcov's case building, generated
tests, the sweep; found by importing them in a fresh interpreter, not listed by hand) and what those require, at
the versions installed here — except torch, what torch itself requires, and the numeric ABI stack built with it
(numpy, scipy): the device's own copies stay, as its torch was built against them. hwcov itself travels as source
in the working tree. The wheels land in `.device/wheels` (ignored by git; `run` carries it), with a manifest
listing each file, version and size; benchmarks/device_sweep.py installs them with `pip --no-index --target`.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / ".device" / "wheels"
LIMIT_MB = 48  # the device call carries 64 MiB in all: the working tree (~2 MiB) and room to spare
DEVICE_KEEPS = ("torch", "numpy", "scipy")  # with torch's own requirements: ABI-bound to the device's torch build
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_24_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64", "manylinux1_x86_64")
ENGINE_IMPORTS = """
import sys
from hwcov.run.runner import preload
preload()
from hwcov.cases import generate, testing
from hwcov.models import inventory, build, inputs, signal
from hwcov.run import sweep
from hwcov.backends import torch as torch_backend
inventory.by_type()
print("\\n".join(sorted({m.split(".")[0] for m in sys.modules})))
"""


def engine_modules() -> set[str]:
    """Top-level modules a fresh interpreter holds after importing the engine and listing the inventory."""
    with tempfile.TemporaryDirectory() as fresh:  # no inventory cache: classifying it imports optimum's task table
        out = subprocess.run([sys.executable, "-c", ENGINE_IMPORTS], capture_output=True, text=True, check=True,
                             cwd=ROOT, env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT),
                                            "HWCOV_ARTIFACTS_DIR": fresh})
    return set(out.stdout.split())


def requirements(dist: str, target: dict) -> list[str]:
    """The base (no extras) requirements of an installed distribution that apply on the target interpreter."""
    names = []
    for text in metadata.requires(dist) or []:
        req = Requirement(text)
        if req.marker is None or req.marker.evaluate({**target, "extra": ""}):
            names.append(canonicalize_name(req.name))
    return names


def closure(roots: set[str], target: dict) -> set[str]:
    seen, todo = set(), list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        try:
            metadata.version(name)
        except metadata.PackageNotFoundError:
            continue  # required but not installed here: nothing imports it on this path
        seen.add(name)
        todo.extend(requirements(name, target))
    return seen


def plan(python_version: str) -> dict[str, str]:
    """{distribution: version} to bundle for a device interpreter of `python_version`."""
    target = {"python_version": python_version, "python_full_version": f"{python_version}.0",
              "sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64",
              "os_name": "posix", "implementation_name": "cpython", "platform_python_implementation": "CPython"}
    owners = metadata.packages_distributions()
    roots = {canonicalize_name(d) for m in engine_modules() for d in owners.get(m, [])} - {"hwcov"}
    kept = closure({canonicalize_name(n) for n in DEVICE_KEEPS}, target)
    wanted = closure(roots, target) - kept
    return {name: metadata.version(name) for name in sorted(wanted)}


def pip_args(python_version: str) -> list[str]:
    args = ["--only-binary=:all:", "--python-version", python_version, "--implementation", "cp"]
    for platform in PLATFORMS:
        args += ["--platform", platform]
    return args


def download(pins: dict[str, str], out: Path, python_version: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.whl"):
        old.unlink()
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(out),
                    *pip_args(python_version), *(f"{n}=={v}" for n, v in pins.items())], check=True)
    return sorted(out.glob("*.whl"))


def wheel_name(path: Path) -> str:
    return canonicalize_name(re.split(r"-\d", path.name, maxsplit=1)[0])


def check(out: Path, pins: dict[str, str], python_version: str) -> None:
    """pip resolves every pinned wheel from the folder alone, for the target interpreter (a dry run: nothing
    installed); --no-deps, as on the device, where torch and its stack are the device's own."""
    with_target = [*pip_args(python_version), "--target", str(out.parent / "dry-run-target")]
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--dry-run", "--no-index", "--no-deps",
                    "--find-links", str(out), *with_target, *(f"{n}=={v}" for n, v in pins.items())], check=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for the wheels (default: .device/wheels)")
    p.add_argument("--python-version", default="3.12", help="the device interpreter's X.Y (default 3.12)")
    p.add_argument("--check", action="store_true", help="also dry-run the install from the folder alone")
    args = p.parse_args()
    pins = plan(args.python_version)
    wheels = download(pins, args.out, args.python_version)
    missing = set(pins) - {wheel_name(w) for w in wheels}
    if missing:
        print(f"device_bundle: no wheel downloaded for {sorted(missing)}", file=sys.stderr)
        return 1
    total = sum(w.stat().st_size for w in wheels) / 2**20
    manifest = {"python_version": args.python_version, "device_keeps": sorted(DEVICE_KEEPS), "total_mb": round(total, 1),
                "wheels": {w.name: round(w.stat().st_size / 2**20, 2) for w in wheels}, "pins": pins}
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    for w in wheels:
        print(f"  {w.stat().st_size / 2**20:6.2f} MiB  {w.name}")
    print(f"{len(wheels)} wheels, {total:.1f} MiB (limit {LIMIT_MB} MiB) in {args.out}")
    if total > LIMIT_MB:
        print(f"device_bundle: {total:.1f} MiB is over the {LIMIT_MB} MiB the device call leaves for wheels",
              file=sys.stderr)
        return 1
    if args.check:
        check(args.out, pins, args.python_version)
        print(f"dry run: every wheel installs for CPython {args.python_version} from {args.out} alone (--no-index)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
