// The only caller of the wasm core. Opens a backend, fetches and caches model bundles, and runs
// refinements one step per call so steps stream to the page and a cancel gets through.
import { msg } from './protocol.js';
import { SIMD_PROBE, cpuModuleVariant } from './simd.js';
import { unzipEntry, zipEntries } from './unzip.js';

let engine = null;
let core = null;          // the loaded wasm module: a CPU module or ./pkg (WebGPU)
let cpuCore = null;       // promise of the CPU module: ./pkg-cpu-mt (threads) or ./pkg-cpu, each maybe -relaxed
let cpuThreads = 1;       // threads the CPU module runs on
let relaxedChosen = false; // whether this device measured the relaxed-SIMD module faster (cpu-choice.js)
let gpuEngine = null;     // the WebGPU engine, once opened
const models = new Map(); // name → LoadedModel on the current engine
const trainers = new Map(); // `live-<toy>` → LiveTrainer (always of the CPU module)
// `yours:<name>` → a bundle the visitor opened (files or a URL): its bytes, kept so that the
// model can be built again on another backend.
const brought = new Map();
const MAX_THREADS = 8;
let current = null;       // id of the refinement in progress
const MODEL_CACHE = 'dgflow-models-v1';
// A thread pool that has not started by then never will (a worker of it failed to load, which
// nothing reports): the single-threaded module takes over instead of leaving the page waiting.
const THREAD_START_MS = 30_000;
// Asking for a GPU adapter takes milliseconds where a GPU answers at all.
const ADAPTER_MS = 10_000;

function withTimeout(promise, ms, message) {
  let timer;
  const late = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(message)), ms); });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

async function loadCore(kind) {
  // One CPU module per worker (a thread pool starts once); a failed load is tried again next time.
  if (kind === 'cpu') return (cpuCore ??= loadCpuCore().catch((e) => { cpuCore = null; throw e; }));
  const module = await import('./pkg/dgflow.js');
  await module.default();
  return module;
}

// Where the page is cross-origin isolated (this site's service worker makes it so; main.js
// reloads a first visit once for it) and the device has several cores, the CPU backend runs on
// all of them: the threaded module, its rayon pool on Web Workers. Elsewhere, or if the threads
// fail to start, the single-threaded module. Either one's relaxed-SIMD build where the browser
// runs it and this device measured it faster, the plain-SIMD one otherwise.
async function loadCpuCore() {
  if (!WebAssembly.validate(SIMD_PROBE)) {
    throw Object.assign(new Error('This browser lacks WebAssembly SIMD.'), { code: 'simd' });
  }
  const relaxed = cpuModuleVariant(relaxedChosen);
  const cores = Math.min(self.navigator.hardwareConcurrency || 1, MAX_THREADS);
  if (self.crossOriginIsolated && cores > 1) {
    try {
      const start = async () => {
        const module = await import(`./pkg-cpu-mt${relaxed}/dgflow.js`);
        await module.default();
        await module.initThreadPool(cores);
        return module;
      };
      const module = await withTimeout(start(), THREAD_START_MS, `${cores} threads did not start within ${THREAD_START_MS / 1000} s`);
      cpuThreads = cores;
      return module;
    } catch (e) {
      console.warn(`CPU threads unavailable (${e.message || e}); using one core`);
    }
  }
  const module = await import(`./pkg-cpu${relaxed}/dgflow.js`);
  await module.default();
  return module;
}

// wgpu does not always report a lost GPU device: after `device.lost` a read can still complete
// (stale or zeroed memory), and a run went on as if all were well. The device is created inside
// the wasm module, out of reach, so this worker wraps requestDevice to watch for the loss itself.
let gpuDevice = null; // the newest GPU device opened
let gpuLost = null;   // why that device was lost, once it was
if (self.GPUAdapter) {
  const requestDevice = GPUAdapter.prototype.requestDevice;
  GPUAdapter.prototype.requestDevice = async function (...args) {
    const device = await requestDevice.apply(this, args);
    gpuDevice = device;
    gpuLost = null;
    // An older device released later (after a switch of backend) is not this one's loss.
    device.lost.then((info) => { if (device === gpuDevice) gpuLost = info.message || `device lost (${info.reason})`; });
    return device;
  };
}

// One module per visitor: the WebGPU module (2.2 MB gzipped) only where a hardware adapter
// exists, otherwise a CPU module (under 1 MB).
async function openEngine(prefer) {
  let reason = '';
  if (prefer !== 'cpu') {
    // A browser whose GPU process does not answer must not keep the page waiting.
    const adapter = self.navigator.gpu
      ? await withTimeout(self.navigator.gpu.requestAdapter(), ADAPTER_MS, 'no answer').catch((e) => {
        console.warn(`WebGPU adapter: ${e.message}; using the CPU`);
        return null;
      })
      : null;
    // A fallback adapter is a software rasteriser: far slower than our CPU path, so "auto"
    // skips it; asking for WebGPU explicitly still uses it.
    const software = adapter && (adapter.isFallbackAdapter || adapter.info?.isFallbackAdapter);
    if (adapter && software && prefer === 'auto') {
      reason = 'only a software WebGPU adapter is available (slower than the CPU)';
    } else if (gpuLost) {
      // burn registers one GPU device per page and cannot replace it.
      reason = `the GPU stopped earlier (${gpuLost}); reload the page to use it again`;
    } else if (adapter) {
      try {
        core = await loadCore('webgpu');
        // Opened once and kept: burn cannot register a second device on the same page, so a
        // switch to the CPU and back reuses this one.
        gpuEngine ??= await core.Engine.open('webgpu');
        engine = gpuEngine;
        return msg.ready('webgpu', '', core.defaults(), core.limits(), 0);
      } catch (e) {
        reason = `WebGPU failed to start (${e.message || e})`;
      }
    } else {
      reason = self.navigator.gpu ? 'this browser offers no WebGPU adapter' : 'this browser has no WebGPU';
    }
  }
  core = await loadCore('cpu');
  engine = await core.Engine.open('cpu');
  return msg.ready('cpu', prefer === 'cpu' ? 'CPU chosen' : reason, core.defaults(), core.limits(), cpuThreads);
}

// Fetches with byte progress, keeping ok responses in Cache Storage under a key that holds the
// file's digest, so a new model version is never served from an old cache entry. `limit`: the
// most bytes the file may have (a stranger's bundle is stopped past it, before it is all read);
// `fallback`: a cache key the response is kept under and served from when the network fails
// (a brought bundle's manifest, which no digest names: offline after a visit).
async function fetchBytes(id, url, cacheKey, label, { limit = Infinity, fallback = null } = {}) {
  const cache = self.caches ? await self.caches.open(MODEL_CACHE) : null;
  const hit = cache && cacheKey ? await cache.match(cacheKey) : null;
  if (hit) return new Uint8Array(await hit.arrayBuffer());
  let response;
  try {
    response = await fetch(url);
  } catch (e) {
    const kept = cache && fallback ? await cache.match(fallback) : null;
    if (kept) return new Uint8Array(await kept.arrayBuffer());
    const why = new URL(url).origin === self.location.origin ? 'offline?' : 'offline, or its host does not let other sites read it (CORS)?';
    throw Object.assign(new Error(`${url} could not be fetched (${e.message || e}: ${why})`), { code: 'fetch' });
  }
  if (!response.ok) throw Object.assign(new Error(`${url}: HTTP ${response.status}`), { code: 'fetch' });
  const total = Number(response.headers.get('content-length')) || 0;
  const tooLarge = () => Object.assign(new Error(`${url} is larger than the ${limit} bytes its part of a bundle can have; the download was stopped`), { code: 'bundle' });
  if (total > limit) throw tooLarge();
  const reader = response.body.getReader();
  const chunks = [];
  let done = 0;
  for (;;) {
    const { value, done: end } = await reader.read();
    if (end) break;
    chunks.push(value);
    done += value.length;
    if (done > limit) {
      await reader.cancel();
      throw tooLarge();
    }
    self.postMessage(msg.progress(id, `download ${label}`, done, total));
  }
  const bytes = new Uint8Array(done);
  let at = 0;
  for (const c of chunks) { bytes.set(c, at); at += c.length; }
  if (cache && (cacheKey || fallback)) await cache.put(cacheKey || fallback, new Response(bytes));
  return bytes;
}

// A bundled model's manifest: its bytes (for the core, which validates them) and what this
// worker needs of it to fetch the rest, checked first so that a broken one is named as such.
async function readManifest(id, name) {
  const base = new URL(`models/${name}/`, self.location.href);
  const manifestBytes = await fetchBytes(id, new URL('manifest.json', base), null, 'manifest');
  let manifest;
  try {
    manifest = JSON.parse(new TextDecoder().decode(manifestBytes));
  } catch (e) {
    throw Object.assign(new Error(`models/${name}/manifest.json is not valid JSON (${e.message})`), { code: 'model' });
  }
  const file = manifest.weights?.file;
  if (typeof file !== 'string' || file === '') {
    throw Object.assign(new Error(`models/${name}/manifest.json names no weights file (weights.file)`), { code: 'model' });
  }
  return { base, manifestBytes, manifest };
}

// The core's reading of a bundled model's manifest: the manifest and the settings a run of it
// starts from (the paper's, with the model's recommended η and γ).
async function describe({ id, model: name }) {
  const { manifestBytes } = await readManifest(id, name);
  const description = describeBytes(`models/${name}`, manifestBytes, 'model');
  self.postMessage(msg.described(id, name, description.manifest, description.defaults));
}

async function loadModel(id, name) {
  if (models.has(name)) return models.get(name);
  if (brought.has(name)) {
    const { label, manifestBytes, weights, shared } = brought.get(name);
    const model = engine.loadModel(label, manifestBytes, weights, shared, 0);
    models.set(name, model);
    return model;
  }
  if (trainers.has(name)) {
    // As bundle files, which any module's engine loads (the trainer lives in the CPU module).
    const { manifest, weights } = trainers.get(name).files();
    const model = engine.loadModel(name, manifest, weights, [], 0);
    models.set(name, model);
    return model;
  }
  const { base, manifestBytes, manifest } = await readManifest(id, name);
  const weightsUrl = new URL(manifest.weights.file, base);
  const cacheKey = `${weightsUrl}?sha256=${manifest.weights?.sha256}`;
  const weights = await fetchBytes(id, weightsUrl, cacheKey, 'weights');
  // Weights borrowed from another bundle (a VAE's critic is the GAN's): the same URL and key as
  // the lender's own, so the browser downloads and caches them once for both models.
  const shared = [];
  const sharedKeys = [];
  for (const entry of manifest.shared_weights ?? []) {
    const url = new URL(entry.file, base);
    sharedKeys.push(`${url}?sha256=${entry.sha256}`);
    shared.push(await fetchBytes(id, url, sharedKeys.at(-1), 'shared weights'));
  }
  self.postMessage(msg.progress(id, 'build model', 0, 0));
  try {
    const model = engine.loadModel(`models/${name}`, manifestBytes, weights, shared, 0);
    models.set(name, model);
    return model;
  } catch (e) {
    if (self.caches) {
      const cache = await self.caches.open(MODEL_CACHE);
      for (const key of [cacheKey, ...sharedKeys]) await cache.delete(key);
    }
    throw Object.assign(e, { code: 'model' });
  }
}

// A GPU can fail mid-run (device lost, out of memory, a driver reset): the run then starts
// again on the CPU module, which runs in its own wasm instance, and the page is told why.
async function withCpuFallback(run) {
  try {
    await run();
  } catch (e) {
    if (engine?.backend !== 'webgpu' || e.code) throw e; // fetch and model errors are not the GPU's
    // The first line of wgpu's message names the failure; the rest is its cause chain.
    const reason = `the GPU stopped (${String(e.message || e).split('\n')[0]}); carrying on with the CPU`;
    models.clear();
    core = await loadCore('cpu');
    engine = await core.Engine.open('cpu');
    self.postMessage(msg.ready('cpu', reason, core.defaults(), core.limits(), cpuThreads));
    await run();
  }
}

// Resolves in a new task. A message to itself, not setTimeout(0): nested timers are clamped to
// 4 ms, which doubled the time of a fast toy run on the CPU (200 steps: 1.7 → 2.6 s). A run being
// cancelled and the one replacing it can both be waiting: messages arrive in order, one per waiter.
const tick = new MessageChannel();
const waiting = [];
tick.port1.onmessage = () => waiting.shift()();
function nextTask() {
  return new Promise((resolve) => {
    waiting.push(resolve);
    tick.port2.postMessage(null);
  });
}

const asSettingsError = (e) => { throw Object.assign(e, { code: 'settings' }); };

// One step of a refinement, or null after its last; throws where the GPU was lost meanwhile.
async function nextStep(refinement) {
  const step = await refinement.next();
  if (engine.backend === 'webgpu' && gpuLost) throw new Error(gpuLost);
  return step;
}

function postStep(id, step, run) {
  const transfer = ['rgba', 'samples', 'logits', 'latents'].filter((k) => step[k]).map((k) => step[k].buffer);
  self.postMessage(msg.step(id, step, run), transfer);
}

async function runRefinement({ id, model: name, settings, showRejected }) {
  current = id;
  const started = performance.now();
  const model = await loadModel(id, name);
  self.postMessage(msg.manifest(id, model.manifest()));
  const refinement = await model.refine(settings, Boolean(showRejected)).catch(asSettingsError);
  for (;;) {
    if (current !== id) return self.postMessage(msg.cancelled(id));
    const step = await nextStep(refinement);
    if (step === null) break;
    postStep(id, step);
    self.postMessage(msg.progress(id, 'refine', step.index, settings.steps));
    // A task boundary per step: GPU reads resolve as microtasks, which would otherwise keep a
    // cancel from the page, and the news of a lost GPU device, waiting until the run ends.
    await nextTask();
  }
  self.postMessage(msg.done(id, performance.now() - started, engine.backend));
}

// "Reject or refine": the core's runs at one budget (a flow, DRS and MH-GAN, from the same
// starting samples), advanced together, `stride` steps of each per step of the view, so that
// all three fill in as the budget is spent.
async function runComparison({ id, model: name, settings, budget, showRejected }) {
  current = id;
  const started = performance.now();
  let runs;
  try {
    runs = core.rejectOrRefine(settings, budget);
  } catch (e) {
    asSettingsError(e);
  }
  const model = await loadModel(id, name);
  self.postMessage(msg.manifest(id, model.manifest()));
  const refinements = [];
  for (const run of runs) refinements.push(await model.refine(run.settings, Boolean(showRejected)).catch(asSettingsError));
  const total = runs[0].settings.steps;
  self.postMessage(msg.contenders(id, runs.map((r) => ({ method: r.settings.method, stride: r.stride })), total));
  for (let k = 0; k <= total; k++) {
    for (const [r, refinement] of refinements.entries()) {
      for (let i = 0; i < (k === 0 ? 1 : runs[r].stride); i++) {
        if (current !== id) return self.postMessage(msg.cancelled(id));
        const step = await nextStep(refinement);
        if (step !== null) postStep(id, step, r);
      }
    }
    self.postMessage(msg.progress(id, 'compare', k, total));
    await nextTask();
  }
  for (const refinement of refinements) refinement.free();
  self.postMessage(msg.done(id, performance.now() - started, engine.backend));
}

// Live training: a small 2D GAN trains here in slices of iterations, so the page sees it take
// shape and a cancel gets through; then it refines like a bundled model, as `live-<toy>`.
// Training and its previews run on the CPU module (the WebGPU module has no CPU backend).
async function train({ id, toy, iterations, seed }) {
  current = id;
  const name = `live-${toy}`;
  const cpu = await loadCore('cpu');
  const trainer = new cpu.LiveTrainer(toy, seed);
  let done = 0;
  let critic = NaN;
  while (done < iterations) {
    if (current !== id) {
      trainer.free();
      return self.postMessage(msg.cancelled(id));
    }
    ({ iteration: done, critic } = trainer.train(Math.min(25, iterations - done)));
    if (done % 100 === 0 || done >= iterations) {
      const image = await trainer.preview();
      self.postMessage(msg.trainProgress(id, done, iterations, critic, image), [image.rgba.buffer]);
    }
    await nextTask(); // lets a cancel in
  }
  trainers.get(name)?.free();
  trainers.set(name, trainer);
  models.get(name)?.free();
  models.delete(name);
  const defaults = (await loadModel(id, name)).defaults();
  self.postMessage(msg.trained(id, name, done, defaults));
}

// A bundle the visitor brings: files (manifest.json and its weights, or one .zip of them) or the
// URL of its folder, manifest or .zip. Validated by the core as a bundled one is, kept in this
// worker only (nothing is uploaded), and answered with `opened`.
async function openBundle({ id, files, url }) {
  const limits = core.limits();
  const found = await (url ? bundleFromUrl(id, url, limits) : bundleFromFiles(files, limits)).catch((e) => {
    throw Object.assign(e, { code: 'bundle' }); // a failed download too: the hint is about bundles
  });
  const { label, manifestBytes, weights, shared, description } = found;
  self.postMessage(msg.progress(id, 'build model', 0, 0));
  let model;
  try {
    model = engine.loadModel(label, manifestBytes, weights, shared, 0);
  } catch (e) {
    throw Object.assign(e, { code: 'bundle' });
  }
  const name = `yours:${description.manifest.name}`;
  models.get(name)?.free();
  models.set(name, model);
  brought.set(name, { label, manifestBytes, weights, shared });
  self.postMessage(msg.opened(id, name, description.manifest, description.defaults, url ? 'url' : 'files'));
}

const bundleError = (message) => Object.assign(new Error(message), { code: 'bundle' });
const baseName = (path) => path.split('/').pop();

// The core's reading of a manifest's bytes, with the byte limits of the files it names; its
// refusal carries `code` (a bundled model's or a brought bundle's hint).
function describeBytes(label, manifestBytes, code = 'bundle') {
  try {
    return core.describeModel(label, manifestBytes);
  } catch (e) {
    throw Object.assign(e, { code });
  }
}

// Files picked or dropped: by their base names, a .zip's entries as files of their own.
async function bundleFromFiles(files, limits) {
  const named = new Map();
  // One file per name: two of them (two bundles in one zip) would leave it unclear which is meant.
  const add = (name, file) => {
    if (named.has(name)) throw bundleError(`${named.get(name).label} and ${file.label} share the name ${name}: bring one bundle at a time`);
    named.set(name, file);
  };
  for (const file of files) {
    if (/\.zip$/i.test(file.name)) {
      if (file.size > limits.maxManifestBytes + limits.maxWeightsBytes) throw bundleError(`${file.name} is ${file.size} bytes, larger than any bundle this page loads`);
      const bytes = new Uint8Array(await file.arrayBuffer());
      for (const entry of zipEntries(bytes, file.name)) {
        add(baseName(entry.name), { size: entry.size, label: `${file.name}: ${entry.name}`, read: (limit) => unzipEntry(bytes, entry, limit, file.name) });
      }
    } else {
      add(file.name, { size: file.size, label: file.name, read: async () => new Uint8Array(await file.arrayBuffer()) });
    }
  }
  const manifestFile = named.get('manifest.json');
  if (!manifestFile) {
    throw bundleError(`none of ${[...named.keys()].join(', ') || 'the files'} is a manifest.json`);
  }
  const take = async (file, limit, what) => {
    if (file.size > limit) throw bundleError(`${file.label} is ${file.size} bytes, more than the ${limit} ${what} can have; it was not read`);
    return file.read(limit);
  };
  const manifestBytes = await take(manifestFile, limits.maxManifestBytes, 'a manifest');
  const label = manifestFile.label.replace(/\/?manifest\.json$/, '') || 'your bundle';
  const description = describeBytes(label, manifestBytes);
  const wanted = (path, limit, what) => {
    const file = named.get(baseName(path));
    if (!file) {
      throw bundleError(`${label}'s manifest names ${what} ${path}, which is not among the files you chose: choose it together with manifest.json (or one .zip of both)`);
    }
    return take(file, limit, what);
  };
  const weights = await wanted(description.manifest.weights.file, description.largestWeightsFile, 'its weights file');
  const shared = [];
  for (const entry of description.manifest.shared_weights ?? []) {
    shared.push(await wanted(entry.file, description.largestSharedFile, 'a shared weights file'));
  }
  return { label, manifestBytes, weights, shared, description };
}

// `?bundle=URL`: a folder (…/), its manifest.json, or a .zip, on this site or any CORS-enabled
// host. Weights are cached by their digest and the manifest by its URL, for offline visits.
async function bundleFromUrl(id, url, limits) {
  let address;
  try {
    address = new URL(url, self.location.href);
  } catch {
    throw bundleError(`${url} is not a URL`);
  }
  if (/\.zip$/i.test(address.pathname)) {
    const bytes = await fetchBytes(id, address, null, 'bundle', { limit: limits.maxManifestBytes + limits.maxWeightsBytes, fallback: `${address}` });
    const zip = new File([bytes], baseName(address.pathname));
    return { ...(await bundleFromFiles([zip], limits)), label: `${address}` };
  }
  const manifestUrl = address.pathname.endsWith('.json') ? address : new URL('manifest.json', address.href.endsWith('/') ? address : `${address}/`);
  const base = new URL('.', manifestUrl);
  const manifestBytes = await fetchBytes(id, manifestUrl, null, 'manifest', { limit: limits.maxManifestBytes, fallback: `${manifestUrl}` });
  const label = base.href.replace(/\/$/, '');
  const description = describeBytes(label, manifestBytes);
  const { weights: ref, shared_weights: lent = [] } = description.manifest;
  const file = (path, sha256, limit, what) => {
    const fileUrl = new URL(path, base);
    return fetchBytes(id, fileUrl, `${fileUrl}?sha256=${sha256}`, what, { limit });
  };
  const weights = await file(ref.file, ref.sha256, description.largestWeightsFile, 'weights');
  const shared = [];
  for (const entry of lent) shared.push(await file(entry.file, entry.sha256, description.largestSharedFile, 'shared weights'));
  return { label, manifestBytes, weights, shared, description };
}

const HINTS = {
  fetch: 'Check your connection and reload; the page needs its own models/ folder.',
  model: 'The model file is damaged or does not match this version of the page: reload to fetch it again.',
  bundle: 'Bring a bundle as dgflow or its PyTorch exporter writes it: manifest.json and its weights file together, or one .zip of both (a link: ?bundle= the folder, its manifest.json or the .zip, on a host that allows other sites to read it). The page\'s own models still work.',
  settings: 'Change the setting named above and refine again.',
  refine: 'Try a smaller step size or fewer samples, or reload the page.',
  qr: 'Copy the link from the address bar instead.',
  train: 'Try again, or reload the page.',
  init: 'Reload the page; if it keeps failing, this browser cannot run WebAssembly.',
  simd: 'Update the browser (Chrome 91+, Firefox 89+, Safari 16.4+) to run the demo.',
};

self.onmessage = async ({ data }) => {
  try {
    if (data.type === 'init') {
      // Models belong to the old engine; trainers stay (they live in the CPU module).
      models.clear();
      relaxedChosen = Boolean(data.relaxed);
      self.postMessage(await openEngine(data.prefer));
    } else if (data.type === 'refine') {
      await withCpuFallback(() => runRefinement(data));
    } else if (data.type === 'compare') {
      await withCpuFallback(() => runComparison(data));
    } else if (data.type === 'train') {
      await train(data);
    } else if (data.type === 'describe') {
      await describe(data);
    } else if (data.type === 'open') {
      await openBundle(data);
    } else if (data.type === 'qr') {
      const image = core.qrCode(data.text, 4);
      self.postMessage(msg.qrImage(data.id, image), [image.rgba.buffer]);
    } else if (data.type === 'cancel') {
      if (current === data.id) current = null;
    }
  } catch (e) {
    const codes = { init: 'init', train: 'train', qr: 'qr', describe: 'model', open: 'bundle' };
    const code = e.code || codes[data.type] || 'refine';
    self.postMessage(msg.error(data.id, code, String(e.message || e), HINTS[code]));
  }
};
