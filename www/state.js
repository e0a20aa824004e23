// The page's state, in one object that main.js renders, and the share link: the URL holds the
// model, its settings and the step shown, so that a link reproduces the same picture.

// The settings the form edits; a run takes the rest of its settings from the core's defaults.
export const SETTINGS = ['method', 'eta', 'gamma', 'steps', 'batch', 'seed', 'percentile'];

export const state = {
  embed: new URLSearchParams(location.search).get('embed') === '1',
  // From the worker, which has them from the core:
  backend: null,        // 'webgpu' | 'cpu'
  reason: '',           // why not WebGPU, where it is not
  threads: 1,           // CPU threads
  defaults: null,       // the paper's settings
  limits: null,         // what the form accepts: {maxSteps, maxBatch, maxEta, maxGamma, liveIterations}
  described: new Map(), // model → {manifest, defaults}: the core's reading of its manifest
  brought: new Map(),   // `yours:<name>` → {source: 'files' | 'url', url}: models the visitor opened
  opening: null,        // {id, url} of a bundle being opened
  pendingOwn: null,     // the settings a `?bundle=` link set, kept once its model is open
  // The models and the run shown:
  models: [],           // the bundled models, from models/index.json
  manifest: null,       // of the run shown
  steps: [],            // its steps so far, by index
  shown: 0,             // the step on screen
  total: 0,             // the steps the run will have
  running: null,        // id of the refinement in progress
  runMethod: null,      // the method it runs (DRS greys out the samples it has not accepted)
  view: 'single',       // 'single': before and after; 'matched': reject or refine (matched.js)
  matched: null,        // that view's runs ({method, stride, steps}) and panels, once known
  wantedStep: null,     // the step a shared link shows, once the run has it
  selected: null,       // the sample followed through the flow
  playing: false,       // ▶ is stepping through the flow
  // 2D GANs trained in the page:
  live: {},             // `live-<toy>` → {iterations, seed, defaults}
  training: null,       // id of the training in progress
  pendingLive: null,    // a shared link's settings, applied once its model is trained again
  cpuTrial: null,       // the timing of the two CPU modules, once started (cpu-choice.js)
  nextId: 1,            // of the next request to the worker
  initialised: false,   // the first `ready` has read the URL
};

// A live model's name: `live-<toy>`.
export const LIVE_MODEL = /^live-(25gaussians|swissroll)$/;

// What a link asks for: its model (or the URL of a bundle to open), settings, step, training
// iterations and view (with its budget), as given (strings; what it leaves out is absent).
export function linked(search = location.search) {
  const p = new URLSearchParams(search);
  const settings = Object.fromEntries(SETTINGS.filter((f) => p.has(f)).map((f) => [f, p.get(f)]));
  const number = (key) => (p.has(key) && Number.isFinite(Number(p.get(key))) ? Number(p.get(key)) : null);
  const view = p.get('view') === 'matched' ? 'matched' : 'single';
  return { model: p.get('model'), settings, step: number('step'), train: number('train'), view, budget: p.get('budget'), bundle: p.get('bundle') };
}

// The link to a view: its query string, with the embed flag if asked.
export function linkTo({ model, settings, step, train, view, budget, bundle }, embed = false) {
  const p = new URLSearchParams();
  if (bundle) p.set('bundle', bundle);
  else p.set('model', model);
  if (train) p.set('train', String(train));
  for (const f of SETTINGS) p.set(f, String(settings[f]));
  if (view === 'matched') {
    p.set('view', view);
    p.set('budget', String(budget));
  }
  p.set('step', String(step));
  if (embed) p.set('embed', '1');
  return `?${p}`;
}
