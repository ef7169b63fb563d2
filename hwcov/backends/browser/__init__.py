"""Browser backends: the case's ONNX export run by onnxruntime-web in headless Chromium (Playwright).

  wasm    onnxruntime-web's wasm (CPU) execution provider
  webgpu  its WebGPU provider, on the adapter Chromium exposes (SwiftShader here: a fallback adapter)
  webnn   its WebNN provider; unavailable wherever `navigator.ml.createContext()` throws (Linux Chromium)

A localhost server (stdlib, threaded, COOP/COEP headers for threaded wasm) serves hwcov/web/ (the page),
the npm package's dist/ files (no CDN) and the registered model files. Pages live in a page host: a spawned
interpreter, in its own process group, holding one Chromium. A runner worker keeps its host in its slot, so one
Chromium serves all of that worker's cases (restarted after a crash, a hung page, or every 50 pages); each case
gets a browser context and page of its own, and a case that hangs (or is killed) mid-request gets that Chromium
killed and fails alone. Outside a runner a case starts a private host and ends it. No process that forks workers
ever holds Playwright state. Chromium can't start under an RLIMIT_AS cap: the host lifts it where permitted.
Cost before the host was kept (2-core sweep under load, median per case): wasm 12 s, webgpu 36 s (SwiftShader:
session create ~9 s, first run ~24 s compiling shaders), of which starting Playwright and Chromium was 3-4 s.

The session runs with exactly one execution provider: onnxruntime-web refuses to create it when that
provider can't start (no silent fallback to another backend). Node-level fallback is checked from the
session's own placement log ("Node(s) placed on [WebGpuExecutionProvider]. Number of nodes: 88"): a row
whose nodes all went elsewhere is not a pass, and the placements are part of the evidence. For webgpu the
page also reports the adapter of the device onnxruntime-web itself opened. Timings: session create, first
(cold) run, median of the steady runs (execution_time_ms).

Precisions: fp32 everywhere; fp16 where the provider runs it (on webgpu only with the adapter's
`shader-f16`, else not_applicable); int8 on wasm. fp16/int8 graphs are the onnxruntime backend's conversions.

The dynamic and generate modes (#25) interleave torch with the page (a reference per shape, a decode step per token):
the torch work stays in the case's process, the graphs run on the case's page of the same host.

Modules: server (PageServer), jobs (forked process groups, Chromium launch, job statuses), pages (what runs on
the page), placements (where the nodes ran), tensors (feeds and outputs across the page), host (the page host),
client (a case's page on it), modes (the dynamic and generate checks on a page), backend (BrowserBackend).
"""
