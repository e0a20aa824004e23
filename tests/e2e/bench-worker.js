// Times each refinement step of one bundle on one backend in a Web Worker, as the page's worker
// runs them (wasm threads block while they wait, which only a worker may do), and posts the times.
// backend: cpu, threads (the threaded CPU module on as many threads as the page would use; it
// needs the cross-origin isolation headers the bench's server sends), either with -relaxed (the
// relaxed-SIMD build), or webgpu.
import { MODULES as modules } from './modules.js';
import { runSteps } from './steps.js';

async function bytes(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

self.onmessage = async ({ data: { name, backend, batch, steps } }) => {
  try {
    const core = await import(modules[backend]);
    await core.default();
    const threads = Math.min(navigator.hardwareConcurrency, 8);
    if (backend.startsWith('threads')) await core.initThreadPool(threads);
    const engine = await core.Engine.open(backend === 'webgpu' ? 'webgpu' : 'cpu');
    const model = engine.loadModel(name, await bytes(`${name}/manifest.json`), await bytes(`${name}/weights.safetensors`), [], 0);
    const { ms } = await runSteps(await model.refine({ method: 'dgflow-kl', batch, steps, seed: 0 }), { timesOnly: true });
    self.postMessage({ backend: engine.backend, threads: backend.startsWith('threads') ? threads : 1, ms });
  } catch (e) {
    self.postMessage({ error: String(e && e.message || e) });
  }
};
