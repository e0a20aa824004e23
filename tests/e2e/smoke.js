// The CPU modules (pkg-cpu; pkg-cpu-mt, on two threads; each also with relaxed SIMD) and the
// WebGPU module (pkg), as the page loads them. The threaded ones need the cross-origin isolated
// page the test serves.
import { MODULES as modules } from './modules.js';
import { runSteps } from './steps.js';

const log = document.getElementById('log');
const say = (line) => { log.textContent += '\n' + line; console.log(line); };

async function bytes(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

async function refineOn(backend, settings, manifest, weights) {
  const started = performance.now();
  const core = await import(modules[backend]);
  await core.default();
  if (backend.startsWith('threads')) await core.initThreadPool(2);
  const engine = await core.Engine.open(backend === 'webgpu' ? 'webgpu' : 'cpu');
  const model = engine.loadModel('tiny', manifest, weights, [], 0);
  const { steps } = await runSteps(await model.refine(settings));
  return { backend: engine.backend, ms: performance.now() - started, steps };
}

const results = {};
try {
  const settings = JSON.parse(new URLSearchParams(location.search).get('settings'));
  const [manifest, weights] = await Promise.all([bytes('tiny/manifest.json'), bytes('tiny/weights.safetensors')]);
  for (const backend of Object.keys(modules)) {
    try {
      results[backend] = await refineOn(backend, settings, manifest, weights);
      say(`${backend}: ${results[backend].steps.length} steps in ${results[backend].ms.toFixed(0)} ms`);
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
