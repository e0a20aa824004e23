// The CPU modules (pkg-cpu; pkg-cpu-mt, on two threads; each also with relaxed SIMD) and the
// WebGPU module (pkg), as the page loads them, each refining every case of `?cases=` (a bundle
// folder and settings apiece). The threaded ones need the cross-origin isolated page the test
// serves.
import { MODULES as modules } from './modules.js';
import { runSteps } from './steps.js';

const log = document.getElementById('log');
const say = (line) => { log.textContent += '\n' + line; console.log(line); };

async function bytes(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

// Every case on one module: `{backend, cases: {name: {ms, steps} or {error}}}`.
async function refineOn(backend, cases, files) {
  const core = await import(modules[backend]);
  await core.default();
  if (backend.startsWith('threads')) await core.initThreadPool(2);
  const engine = await core.Engine.open(backend === 'webgpu' ? 'webgpu' : 'cpu');
  const out = {};
  for (const { name, model, settings } of cases) {
    const started = performance.now();
    try {
      const loaded = engine.loadModel(model, files[model].manifest, files[model].weights, [], 0);
      const { steps } = await runSteps(await loaded.refine(settings));
      loaded.free();
      out[name] = { ms: performance.now() - started, steps };
    } catch (e) {
      out[name] = { error: String(e && e.message || e) };
    }
    say(`${backend} ${name}: ${out[name].error ?? `${out[name].steps.length} steps in ${out[name].ms.toFixed(0)} ms`}`);
  }
  return { backend: engine.backend, cases: out };
}

const results = {};
try {
  const cases = JSON.parse(new URLSearchParams(location.search).get('cases'));
  const files = {};
  for (const model of new Set(cases.map((c) => c.model))) {
    const [manifest, weights] = await Promise.all([bytes(`${model}/manifest.json`), bytes(`${model}/weights.safetensors`)]);
    files[model] = { manifest, weights };
  }
  for (const backend of Object.keys(modules)) {
    try {
      results[backend] = await refineOn(backend, cases, files);
    } catch (e) {
      results[backend] = { error: String(e && e.message || e) };
      say(`${backend}: ${results[backend].error}`);
    }
  }
  results.isolated = self.crossOriginIsolated;
  results.adapter = navigator.gpu ? Boolean(await navigator.gpu.requestAdapter()) : false;
} catch (e) {
  results.fatal = String(e && e.stack || e);
  say('FATAL ' + results.fatal);
}
window.smokeResults = results;
