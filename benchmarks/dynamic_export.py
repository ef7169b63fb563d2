"""What the dynamic mode's export costs with Dim.AUTO on every input axis against the axes its check varies only.

    HF_HUB_OFFLINE=1 python benchmarks/dynamic_export.py [--models vit,swin,pegasus,...] [--timeout 600]

For each architecture, side by side in this one run (alternating, so a drifting machine load hits both alike): the
transformers ONNX export (`OnnxExporter`, `dynamic=True`) of the case hwcov's dynamic mode exports
(hwcov.export.dynamic.export_built: batch 2, the longer lengths), once with `dynamic_shapes` left to the exporter
(Dim.AUTO on every axis: what hwcov did before) and once with hwcov.export.dynamic.symbolic_spec (the axes the
check's shapes vary). Each export runs in a child process with --timeout seconds, no cache. Prints seconds per
architecture, the ratio, and the graph inputs' symbolic axes each way.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import time

DEFAULT = "vit,swin,pegasus,whisper,detr,maskformer"


def export_seconds(model_type: str, spec: str, queue) -> None:
    import tempfile

    import onnx
    import transformers.exporters as hx

    from hwcov.cases import generate
    from hwcov.export import dynamic
    from hwcov.models import inventory
    from hwcov.models.build import build_case

    case = generate.case_for(inventory.by_type()[model_type])
    built, _ = dynamic.export_built(build_case(case, dynamic.EXPORT_BATCH), case.input_spec)
    options = {"dynamic_shapes": built.dynamic_shapes} if spec == "varied" else {}
    started = time.perf_counter()
    exported = hx.OnnxExporter().export(built.model, dict(built.feed), hx.OnnxConfig(dynamic=True, **options))
    seconds = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as folder:
        exported.save_pretrained(folder)
        graph = onnx.load(os.path.join(folder, "model.onnx"), load_external_data=False).graph
    symbolic = {i.name: [a for a, d in enumerate(i.type.tensor_type.shape.dim) if d.dim_param]
                for i in graph.input}
    queue.put((seconds, symbolic))


def timed(model_type: str, spec: str, timeout: float) -> tuple[float | None, dict]:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=export_seconds, args=(model_type, spec, queue))
    child.start()
    child.join(timeout)
    if child.is_alive():
        child.kill()
        child.join()
        return None, {}
    return queue.get() if not queue.empty() else (None, {})


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default=DEFAULT, help="comma-separated model types (default %(default)s)")
    p.add_argument("--timeout", type=float, default=600, help="seconds per export (default %(default)s)")
    args = p.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    print("| architecture | every axis Dim.AUTO s | varied axes s | ratio | symbolic axes (varied) |")
    print("|---|---|---|---|---|")
    for model_type in filter(None, args.models.split(",")):
        every, _ = timed(model_type, "every", args.timeout)
        varied, axes = timed(model_type, "varied", args.timeout)

        def shown(s):
            return f"{s:.1f}" if s is not None else f"> {args.timeout:.0f} (stopped)"

        ratio = f"{varied / every:.2f}" if every and varied else ("< " + f"{varied / args.timeout:.2f}"
                                                                  if varied else "-")
        print(f"| {model_type} | {shown(every)} | {shown(varied)} | {ratio} | {axes} |", flush=True)
    print(f"\nload average at the end: {'/'.join(f'{x:.2f}' for x in os.getloadavg())} (2 cores here; other work "
          "may have run beside this)")


if __name__ == "__main__":
    main()
