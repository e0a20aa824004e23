// Runs bench-worker.js for ?model=…&backend=cpu|threads|webgpu&batch=…&steps=… and leaves its
// step times in window.benchResults for bench.mjs.
const query = new URLSearchParams(location.search);
const worker = new Worker('bench-worker.js', { type: 'module' });
worker.onmessage = ({ data }) => {
  window.benchResults = data;
  document.getElementById('log').textContent = JSON.stringify(data);
};
worker.onerror = (e) => { window.benchResults = { error: e.message || 'the worker failed to start' }; };
worker.postMessage({
  name: query.get('model'), backend: query.get('backend'), batch: Number(query.get('batch')), steps: Number(query.get('steps')),
});
