"""Browser backends: the case's ONNX export run by onnxruntime-web in headless Chromium (Playwright).

  wasm    onnxruntime-web's wasm (CPU) execution provider
  webgpu  its WebGPU provider, on the adapter Chromium exposes (SwiftShader here: a fallback adapter)
  webnn   its WebNN provider; unavailable wherever `navigator.ml.createContext()` throws (Linux Chromium)

A localhost server (stdlib, threaded, COOP/COEP headers for threaded wasm) serves hwcov/web/ (the page),
the npm package's dist/ files (no CDN) and the registered model files. Every Playwright use happens in a
forked process of its own, in its own process group: a page crash or a hung shader compile ends that job
(killed with its Chromium) and fails that case only, and a process that later forks workers never has
Playwright state. One Chromium per export route tried (the first route usually passes: one per case).
Chromium can't start under an RLIMIT_AS cap: run these keys with the runner's memory_mb=0.
Cost, measured in a 2-core sweep under load (median per case): wasm 12 s, webgpu 36 s (SwiftShader: session
create ~9 s, first run ~24 s compiling shaders). Starting the job's Playwright driver, Chromium and closing them
costs 3-4 s of that; a browser kept across cases would have to outlive the runner's one-child-per-case fork
(a shared host process), which is not worth the weaker isolation for ~10% of a webgpu case.

The session runs with exactly one execution provider: onnxruntime-web refuses to create it when that
provider can't start (no silent fallback to another backend). Node-level fallback is checked from the
session's own placement log ("Node(s) placed on [WebGpuExecutionProvider]. Number of nodes: 88"): a row
whose nodes all went elsewhere is not a pass, and the placements are part of the evidence. For webgpu the
page also reports the adapter of the device onnxruntime-web itself opened. Timings: session create, first
(cold) run, median of the steady runs (execution_time_ms).

Precisions: fp32 everywhere; fp16 where the provider runs it (on webgpu only with the adapter's
`shader-f16`, else not_applicable); int8 on wasm. fp16/int8 graphs are the onnxruntime backend's conversions.

The dynamic and generate modes (#25) interleave torch with the page (a reference per shape, a decode step per token):
they keep the torch work in the case's process and run the graphs on a page host, a spawned interpreter holding one
page (torch in a fork of a process whose thread pool ran deadlocks in OpenMP), with the jobs' isolation.

Modules: server (PageServer), jobs (forked process groups, Chromium launch, job statuses), pages (what runs on
the page), placements (where the nodes ran), tensors (feeds and outputs across the page), host (the page host),
modes (the dynamic and generate checks on a page host), backend (BrowserBackend).
"""
