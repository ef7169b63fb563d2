"""Where the session's nodes ran, from onnxruntime-web's own placement log, and whether that counts as running on
the hardware's provider (onnxruntime places a node its provider lacks a kernel for on the CPU provider, silently)."""
from __future__ import annotations

import re

MIN_PLACED_SHARE = 0.5  # of the graph's nodes on the provider, for a row to count as run on it
# the onnxruntime execution providers whose node placements prove the session ran on the hardware
PLACEMENT_EPS = {"wasm": ("CPUExecutionProvider",), "webgpu": ("WebGpuExecutionProvider", "JsExecutionProvider"),
                 "webnn": ("WebNNExecutionProvider",)}


_PLACED = re.compile(r"(?:All nodes|Node\(s\)) placed on \[(\w+)\]\. Number of nodes: (\d+)")
_NODE = re.compile(r"VerifyEachNodeIsAssignedToAnEp\]\s{3}(\w+) \(")


def placements(console: list) -> dict:
    """{execution provider: (node count, Counter of op types)} from the session's verbose placement log
    (summed over subgraphs)."""
    import collections

    found: dict = {}
    current = None
    for line in console:
        m = _PLACED.search(line)
        if m:
            current = m.group(1)
            count, ops = found.get(current, (0, collections.Counter()))
            found[current] = (count + int(m.group(2)), ops)
            continue
        m = _NODE.search(line)
        if m and current:
            found[current][1][m.group(1)] += 1
    return found


def from_wire(placed: dict) -> dict:
    """placements() as it arrives from a page host (JSON: a Counter arrives as a dict, a tuple as a list)."""
    import collections

    return {ep: (count, collections.Counter(ops)) for ep, (count, ops) in placed.items()}


def placement_fallback(hardware: str, placed: dict) -> str:
    """Why the session did not really run on the hardware's provider ('' when it did): onnxruntime places a
    node its provider lacks a kernel for on the CPU provider, silently. Shape-computing nodes (Cast, Reshape) on
    CPU are normal; a graph whose nodes went mostly to CPU ran on the CPU, not on the provider."""
    ours = sum(n for ep, (n, _) in placed.items() if ep in PLACEMENT_EPS[hardware])
    total = sum(n for n, _ in placed.values())
    if total and ours / total >= MIN_PLACED_SHARE:
        return ""
    others = {ep: v for ep, v in placed.items() if ep not in PLACEMENT_EPS[hardware]}
    return (f"only {ours} of {total} nodes ran on {'/'.join(PLACEMENT_EPS[hardware])} (< {MIN_PLACED_SHARE:.0%}); "
            f"onnxruntime-web placed the rest on {placement_text(others, name_all=True)}")


def placement_text(placed: dict, name_all: bool = False) -> str:
    """'WebGpuExecutionProvider 88, CPUExecutionProvider 1 (Cast)': ops named for the minority providers."""
    parts = []
    for i, (ep, (count, ops)) in enumerate(sorted(placed.items(), key=lambda kv: -kv[1][0])):
        names = f" ({', '.join(f'{op}x{n}' if n > 1 else op for op, n in ops.most_common(8))})" \
            if (i or name_all) and ops else ""
        parts.append(f"{ep} {count}{names}")
    return ", ".join(parts)


def adapter_text(gpu: dict) -> str:
    parts = [gpu.get("vendor") or "?", gpu.get("architecture") or "?"]
    desc = f" ({gpu['description']})" if gpu.get("description") else ""
    return f"WebGPU adapter {'/'.join(parts)}{desc} fallback={bool(gpu.get('isFallbackAdapter'))}"
