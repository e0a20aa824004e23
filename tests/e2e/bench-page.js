// Times each refinement step of `model` on `backend` (?model=…&backend=cpu|webgpu&batch=…&steps=…),
// as the page's worker runs them, and leaves the times in window.benchResults.
const modules = { cpu: './pkg-cpu/dgflow.js', webgpu: './pkg/dgflow.js' };
const query = new URLSearchParams(location.search);
const [name, backend] = [query.get('model'), query.get('backend')];
const settings = { method: 'dgflow-kl', batch: Number(query.get('batch')), steps: Number(query.get('steps')), seed: 0 };

async function bytes(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

try {
  const core = await import(modules[backend]);
  await core.default();
  const engine = await core.Engine.open(backend);
  const model = engine.loadModel(name, await bytes(`${name}/manifest.json`), await bytes(`${name}/weights.safetensors`), [], 0);
  const refinement = await model.refine(settings);
  const ms = [];
  for (;;) {
    const started = performance.now();
    const step = await refinement.next();
    if (step === null) break;
    ms.push(performance.now() - started);
  }
  window.benchResults = { backend: engine.backend, ms };
} catch (e) {
  window.benchResults = { error: String(e && e.message || e) };
}
document.getElementById('log').textContent = JSON.stringify(window.benchResults);
