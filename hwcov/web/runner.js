// hwcov browser runner: the page side of hwcov/backends/browser.py.
// Python (Playwright) calls window.hwcov.probe(), .create(spec) and .run(feeds, iterations); tensors travel as
// base64 of their little-endian bytes and become typed arrays here (int64 as BigInt64Array).
const params = new URLSearchParams(location.search);
const bundle = params.get('bundle') || 'ort.all.min.mjs';
const ort = await import(`./ort/${bundle}`);
ort.env.wasm.wasmPaths = new URL('./ort/', location.href).href;
ort.env.wasm.numThreads = Number(params.get('threads') || 1);
ort.env.wasm.proxy = false;
// 'verbose' lets the session log its node placements (which execution provider got each node): the evidence
// hwcov checks. Runs log at 'error' only.
ort.env.logLevel = params.get('log') || 'warning';
// Verbose and info lines other than the placements are dropped here, before they cross to Playwright: a session
// logs hundreds of them, and shipping each one costs 0.5-1.5 s of session create on a loaded machine.
for (const level of ['log', 'info', 'warn', 'error', 'debug']) {
  const write = console[level].bind(console);
  console[level] = (...args) => {
    const text = args.map(String).join(' ');
    if (/\[[VI]:/.test(text) && !text.includes('VerifyEachNodeIsAssignedToAnEp')) return;
    write(...args);
  };
}

const ARRAYS = {
  float32: Float32Array, float64: Float64Array, int32: Int32Array, int64: BigInt64Array, int8: Int8Array,
  uint8: Uint8Array, bool: Uint8Array, uint16: Uint16Array, float16: Uint16Array, int16: Int16Array,
  uint32: Uint32Array, uint64: BigUint64Array,
};

function errorText(e) {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

function fromBase64(b64) {
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return bytes.buffer;
}

function toBase64(view) {
  const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

async function probeWebGPU() {
  if (!navigator.gpu) return { available: false, error: 'navigator.gpu is undefined (WebGPU not exposed)' };
  try {
    const adapter = await navigator.gpu.requestAdapter();
    if (!adapter) return { available: false, error: 'navigator.gpu.requestAdapter() returned null' };
    const info = adapter.info || {};
    return {
      available: true, vendor: info.vendor, architecture: info.architecture, device: info.device,
      description: info.description,
      isFallbackAdapter: Boolean(info.isFallbackAdapter ?? adapter.isFallbackAdapter),
      features: [...adapter.features].sort(),
    };
  } catch (e) {
    return { available: false, error: errorText(e) };
  }
}

async function probeWebNN() {
  if (!('ml' in navigator)) return { available: false, error: 'navigator.ml is undefined (WebNN not exposed)' };
  try {
    const context = await navigator.ml.createContext();
    return { available: true, context: Object.prototype.toString.call(context) };
  } catch (e) {
    return { available: false, error: errorText(e) };
  }
}

// hwcov's warm-up graph, y = Identity(x) on float[1], opset 13: these 68 bytes are its ONNX file (made with
// onnx.helper; tests/backends/test_page_host.py rebuilds and compares them). A page host runs it on a spare page
// before a case asks for one (hwcov/backends/browser/host.py): onnxruntime-web compiles and instantiates its
// WebAssembly module at a page's first session, ~0.5 s that then overlaps the next case's own work.
const WARM_GRAPH = new Uint8Array([
  8, 8, 58, 58, 10, 16, 10, 1, 120, 18, 1, 121, 34, 8, 73, 100, 101, 110, 116, 105, 116, 121, 18, 4, 119, 97, 114,
  109, 90, 15, 10, 1, 120, 18, 10, 10, 8, 8, 1, 18, 4, 10, 2, 8, 1, 98, 15, 10, 1, 121, 18, 10, 10, 8, 8, 1, 18, 4,
  10, 2, 8, 1, 66, 4, 10, 0, 16, 13]);

// sessions by key: the sweep's one graph ('main'), or a mode's several (a generation's prefill and decode)
const sessions = {};
let provider = null;

window.hwcov = {
  async probe() {
    return {
      userAgent: navigator.userAgent, crossOriginIsolated: self.crossOriginIsolated,
      ort: ort.env.versions, bundle, threads: ort.env.wasm.numThreads,
      webgpu: await probeWebGPU(), webnn: await probeWebNN(),
    };
  },

  // the warm-up above, on the wasm provider whatever the page's bundle (a webgpu page's device stays unopened: the
  // case's session opens it, as its evidence says); nothing of it is kept but the compiled module
  // (bounded: the host waits on it with no case to time it out)
  async warm(limitMs = 30000) {
    const work = async () => {
      const session = await ort.InferenceSession.create(WARM_GRAPH, { executionProviders: ['wasm'],
                                                                       logSeverityLevel: 3 });
      const out = await session.run({ x: new ort.Tensor('float32', new Float32Array([7]), [1]) });
      await session.release();
      if (out.y.data[0] !== 7) throw new Error(`the warm-up graph returned ${out.y.data[0]}, not 7`);
      return true;
    };
    let timer;  // cleared once the race is decided: no stray timer left running on the page a case gets
    const late = new Promise((_, fail) => {
      timer = setTimeout(() => fail(new Error(`warm-up past ${limitMs} ms`)), limitMs);
    });
    try {
      return await Promise.race([work(), late]);
    } finally {
      clearTimeout(timer);
    }
  },

  // spec: {model: url, externalData: [{path, data}], provider: 'wasm'|'webgpu'|'webnn', severity: 0..4, key}
  async create(spec) {
    provider = spec.provider;
    const options = { executionProviders: [spec.provider], graphOptimizationLevel: 'all',
                      logSeverityLevel: spec.severity ?? 2 };
    if (spec.externalData && spec.externalData.length) options.externalData = spec.externalData;
    const t0 = performance.now();
    const session = await ort.InferenceSession.create(spec.model, options);
    sessions[spec.key || 'main'] = session;
    const createMs = performance.now() - t0;
    const result = { createMs, inputNames: session.inputNames, outputNames: session.outputNames };
    if (spec.provider === 'webgpu') {
      // Set by onnxruntime-web only once its WebGPU backend opened a device: evidence the session is on WebGPU.
      const device = await ort.env.webgpu.device;
      const adapter = await ort.env.webgpu.adapter;
      const info = (device && device.adapterInfo) || (adapter && adapter.info) || {};
      result.webgpu = { device: Boolean(device), vendor: info.vendor, architecture: info.architecture,
                        description: info.description, isFallbackAdapter: Boolean(info.isFallbackAdapter),
                        features: device ? [...device.features].sort() : [] };
    }
    return result;
  },

  // feeds: [{name, dtype, dims, b64}]; runs `iterations` times (stopping early, after one, once `budgetMs` is spent),
  // returns the last outputs and every run's time; `key` names the session (default: the last one created as 'main')
  async run(feeds, iterations, budgetMs, key) {
    const session = sessions[key || 'main'];
    if (!session) throw new Error(`no session '${key || 'main'}' on this page`);
    const inputs = {};
    for (const f of feeds) {
      const data = new ARRAYS[f.dtype](fromBase64(f.b64));
      inputs[f.name] = new ort.Tensor(f.dtype, f.dtype === 'bool' ? new Uint8Array(data) : data, f.dims);
    }
    const times = [];
    let results = null;
    const start = performance.now();
    for (let i = 0; i < Math.max(1, iterations); i++) {
      const t0 = performance.now();
      results = await session.run(inputs, { logSeverityLevel: 3 });
      times.push(performance.now() - t0);
      if (budgetMs && performance.now() - start >= budgetMs) break;
    }
    const outputs = session.outputNames.map((name) => {
      const t = results[name];
      return { name, dtype: t.type, dims: Array.from(t.dims), b64: toBase64(t.data), location: t.location };
    });
    return { times, outputs };
  },
};
window.hwcovReady = true;
