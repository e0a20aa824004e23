// The page: owns the worker, keeps all UI state in `state`, and renders what the core returns.
import { msg } from './protocol.js';

const $ = (id) => document.getElementById(id);
const FIELDS = ['method', 'eta', 'gamma', 'steps', 'batch', 'seed'];

const state = {
  embed: new URLSearchParams(location.search).get('embed') === '1',
  backend: null, reason: '', defaults: null,
  models: [], manifest: null,
  steps: [], shown: 0, total: 0,
  running: null, playing: false, nextId: 1,
  selected: null, // the sample followed through the flow
  live: {},       // `live-<toy>` → {iterations, seed, recommended} of models trained in this page
  training: null, // id of the live training in progress
};

const worker = new Worker(new URL('worker.js', import.meta.url), { type: 'module' });
worker.onerror = (e) => showError({ message: `The compute worker failed to start (${e.message || 'unknown error'}).`, hint: 'Reload the page; this browser may not support module workers.' });
worker.onmessage = ({ data }) => handlers[data.type]?.(data);

const handlers = {
  ready({ backend, reason, defaults, threads }) {
    state.backend = backend;
    state.reason = reason;
    state.defaults ??= defaults;
    const cores = threads > 1 ? ` (${threads} threads)` : '';
    $('backend').textContent = backend === 'webgpu'
      ? 'Running on your GPU (WebGPU).'
      : `Running on your CPU${cores}${reason ? ` — ${reason}` : ''}.`;
    if (!state.initialised) { state.initialised = true; readUrl(); }
    $('run').disabled = state.models.length === 0;
  },
  progress({ id, stage, done, total }) {
    if (id !== state.running) return;
    const bar = $('progress');
    bar.hidden = false;
    const fraction = total ? done / total : 0;
    bar.firstElementChild.style.width = `${Math.round(100 * fraction)}%`;
    bar.lastElementChild.textContent = stage.startsWith('download') && total
      ? `${stage}: ${(done / 1e6).toFixed(1)} of ${(total / 1e6).toFixed(1)} MB`
      : stage === 'refine' ? `refining: step ${done} of ${total}` : `${stage}…`;
  },
  manifest({ id, manifest }) {
    if (id !== state.running) return;
    state.manifest = manifest;
    performance.mark('dgflow:model-ready');
  },
  step({ id, step }) {
    if (id !== state.running) return;
    state.steps[step.index] = step;
    const follow = state.shown === step.index - 1 || step.index === 0;
    $('scrubber').max = String(step.index);
    if (follow) show(step.index);
    // User Timing marks (DevTools, and the browser benchmark): first picture, first refined step.
    if (step.index <= 1 && follow) performance.mark(`dgflow:step-${step.index}-shown`);
  },
  done({ id, ms, backend }) {
    if (id !== state.running) return;
    state.running = null;
    $('progress').hidden = true;
    $('note').textContent = `${state.steps.length - 1} steps in ${(ms / 1000).toFixed(1)} s on ${backend === 'webgpu' ? 'WebGPU' : 'the CPU'}.`;
    setBusy(false);
    if (Number.isInteger(state.wantedStep) && state.steps[state.wantedStep]) show(state.wantedStep);
    state.wantedStep = null;
  },
  'train-progress'({ id, iteration, total, critic, image }) {
    if (id !== state.training) return;
    const bar = $('progress');
    bar.hidden = false;
    bar.firstElementChild.style.width = `${Math.round((100 * iteration) / total)}%`;
    bar.lastElementChild.textContent = `training: iteration ${iteration} of ${total} · critic loss ${critic.toFixed(3)} (1.386 is chance)`;
    const canvas = $('before');
    canvas.width = image.width;
    canvas.height = image.height;
    canvas.getContext('2d').putImageData(new ImageData(image.rgba, image.width, image.height), 0, 0);
    $('before-logit').textContent = `· the generator while training (iteration ${iteration})`;
  },
  trained({ id, name, iterations, recommended }) {
    if (id !== state.training) return;
    state.training = null;
    $('live-train').textContent = 'Train';
    $('progress').hidden = true;
    state.live[name] = { iterations, seed: Number($('seed').value), recommended };
    const label = `${name.slice(5)} (trained here, ${iterations} iterations)`;
    const option = [...$('model').options].find((o) => o.value === name) ?? $('model').appendChild(new Option(label, name));
    option.textContent = label;
    $('model').value = name;
    applyRecommended({ keep: state.pendingLive ? FIELDS.filter((f) => state.pendingLive.has(f)) : [] });
    state.pendingLive = null;
    start();
  },
  cancelled() {
    if (state.running !== null) return; // a new refinement has started since
    setBusy(false);
    $('progress').hidden = true;
    $('note').textContent = `Stopped at step ${state.steps.length - 1}.`;
  },
  'qr-image'({ image }) {
    const canvas = $('qr');
    canvas.width = image.width;
    canvas.height = image.height;
    canvas.getContext('2d').putImageData(new ImageData(image.rgba, image.width, image.height), 0, 0);
    canvas.hidden = false;
    $('qr-button').setAttribute('aria-expanded', 'true');
  },
  error(e) {
    state.running = null;
    state.training = null;
    $('live-train').textContent = 'Train';
    setBusy(false);
    $('progress').hidden = true;
    showError(e);
  },
};

function showError({ message, hint }) {
  const box = $('error');
  box.hidden = false;
  box.textContent = hint ? `${message} ${hint}` : message;
}

function setBusy(busy) {
  $('run').textContent = busy ? 'Stop' : 'Refine';
}

function settings() {
  const s = {};
  for (const f of FIELDS) {
    const el = $(f);
    s[f] = el.type === 'number' ? Number(el.value) : el.value;
  }
  return s;
}

function start() {
  if (state.running) {
    worker.postMessage(msg.cancel(state.running));
    state.running = null;
    return;
  }
  $('error').hidden = true;
  state.steps = [];
  state.shown = 0;
  state.running = state.nextId++;
  state.total = Number($('steps').value);
  $('scrubber').max = '0';
  setBusy(true);
  writeUrl();
  worker.postMessage(msg.refine(state.running, $('model').value, settings()));
}

// Trains a small 2D GAN in the worker (deterministic for a seed), then refines it.
function train(toy, iterations) {
  if (state.training) {
    worker.postMessage(msg.cancel(state.training));
    state.training = null;
    $('live-train').textContent = 'Train';
    $('progress').hidden = true;
    return;
  }
  if (state.running) start(); // stops the refinement in progress
  $('error').hidden = true;
  state.training = state.nextId++;
  $('live-train').textContent = 'Stop';
  worker.postMessage(msg.train(state.training, toy, iterations, Number($('seed').value)));
}

function show(index) {
  const step = state.steps[index];
  if (!step || !state.manifest) return;
  state.shown = index;
  $('scrubber').value = String(index);
  $('step-label').textContent = String(index);
  const before = state.steps[0];
  $('before-logit').textContent = `· mean logit ${before.meanLogit.toFixed(3)}`;
  $('after-logit').textContent = `· mean logit ${step.meanLogit.toFixed(3)}`;
  draw($('before'), $('before-text'), before, null);
  draw($('after'), $('after-text'), step, before);
  describeSelected();
  drawChart();
  writeUrl();
}

function draw(canvas, list, step, reference) {
  const kind = state.manifest.kind;
  list.replaceChildren();
  if ((kind === 'image' || kind === 'points') && step.rgba) {
    canvas.width = step.width;
    canvas.height = step.height;
    canvas.getContext('2d').putImageData(new ImageData(step.rgba, step.width, step.height), 0, 0);
  } else if (kind === 'text' && step.text) {
    canvas.removeAttribute('width');
    step.text.forEach((line, i) => {
      const li = textLine(line, reference?.text?.[i], step.logits[i]);
      li.classList.toggle('selected', i === state.selected);
      li.addEventListener('click', () => select(i));
      list.append(li);
    });
  }
}

// A sentence with the characters that differ from the reference highlighted, and its logit.
function textLine(line, reference, logit) {
  const li = document.createElement('li');
  [...line].forEach((ch, i) => {
    if (reference && reference[i] !== ch) {
      const mark = document.createElement('mark');
      mark.textContent = ch;
      li.append(mark);
    } else {
      li.append(ch);
    }
  });
  if (logit !== undefined) {
    const value = document.createElement('span');
    value.className = 'logit';
    value.textContent = logit.toFixed(2);
    li.append(value);
  }
  return li;
}

// The image sample under a pointer, from the grid layout the core reports.
function sampleAt(canvas, step, event) {
  if (!step?.columns || !canvas.width) return null;
  const rect = canvas.getBoundingClientRect();
  const x = ((event.clientX - rect.left) * canvas.width) / rect.width;
  const y = ((event.clientY - rect.top) * canvas.height) / rect.height;
  const pitch = step.tile + step.gap;
  const col = Math.floor((x - step.gap) / pitch);
  const row = Math.floor((y - step.gap) / pitch);
  if (col < 0 || row < 0 || col >= step.columns) return null;
  const i = row * step.columns + col;
  return i < step.logits.length ? i : null;
}

function logitLine(i) {
  const before = state.steps[0]?.logits[i];
  const now = state.steps[state.shown]?.logits[i];
  if (before === undefined || now === undefined) return '';
  return `Sample ${i + 1}: logit ${before.toFixed(3)} before, ${now.toFixed(3)} at step ${state.shown}.`;
}

function select(i) {
  state.selected = state.selected === i ? null : i;
  show(state.shown);
}

// The followed sample: its logit in words and its picture (or sentence) at every step.
function describeSelected() {
  const i = state.selected;
  const figure = $('trajectory');
  if (i === null || !state.steps[0] || i >= state.steps[0].logits.length) {
    figure.hidden = true;
    return;
  }
  $('inspect').textContent = `${logitLine(i)} Tap it again to let go.`;
  const steps = state.steps.filter(Boolean);
  const every = Math.max(1, Math.ceil(steps.length / 26));
  const frames = steps.filter((s, k) => k % every === 0 || k === steps.length - 1);
  $('trajectory-caption').textContent = `Sample ${i + 1} through the flow (steps ${frames.map((s) => s.index).join(', ')}): logit ${frames.map((s) => s.logits[i].toFixed(2)).join(' → ')}`;
  figure.hidden = false;
  const strip = $('trajectory-strip');
  const list = $('trajectory-text');
  list.replaceChildren();
  if (state.manifest.kind === 'image' && frames[0].columns) {
    const { tile, gap, columns } = frames[0];
    strip.width = frames.length * (tile + gap) + gap;
    strip.height = tile + 2 * gap;
    const g = strip.getContext('2d');
    g.fillStyle = '#fff';
    g.fillRect(0, 0, strip.width, strip.height);
    const [x0, y0] = [gap + (i % columns) * (tile + gap), gap + Math.floor(i / columns) * (tile + gap)];
    frames.forEach((s, k) => {
      const image = new ImageData(s.rgba, s.width, s.height);
      g.putImageData(image, gap + k * (tile + gap) - x0, gap - y0, x0, y0, tile, tile);
    });
  } else {
    strip.removeAttribute('width');
    if (state.manifest.kind === 'text') {
      frames.forEach((s, k) => list.append(textLine(s.text[i], frames[k - 1]?.text[i], s.logits[i])));
    }
  }
}

// Mean logit per step, the shown step marked; the followed sample's logit dashed.
function drawChart() {
  const canvas = $('chart');
  const steps = state.steps.filter(Boolean);
  const scale = window.devicePixelRatio || 1;
  canvas.width = Math.round(canvas.clientWidth * scale) || 600;
  canvas.height = Math.round(140 * scale);
  const g = canvas.getContext('2d');
  g.clearRect(0, 0, canvas.width, canvas.height);
  if (steps.length === 0) return;
  const series = [steps.map((s) => [s.index, s.meanLogit])];
  if (state.selected !== null) series.push(steps.map((s) => [s.index, s.logits[state.selected]]));
  const values = series.flat().map(([, v]) => v).filter(Number.isFinite);
  let [lo, hi] = [Math.min(...values), Math.max(...values)];
  if (hi - lo < 1e-6) [lo, hi] = [lo - 0.5, hi + 0.5];
  const last = Math.max(state.total, steps[steps.length - 1].index, 1);
  const pad = 28 * scale;
  const x = (i) => pad + ((canvas.width - 2 * pad) * i) / last;
  const y = (v) => canvas.height - pad / 2 - ((canvas.height - pad) * (v - lo)) / (hi - lo);
  g.font = `${11 * scale}px system-ui, sans-serif`;
  g.fillStyle = '#555';
  g.fillText(hi.toFixed(2), 2, y(hi) + 4 * scale);
  g.fillText(lo.toFixed(2), 2, y(lo));
  series.forEach((points, k) => {
    g.strokeStyle = k === 0 ? '#1a56db' : '#d97706';
    g.lineWidth = 2 * scale;
    g.setLineDash(k === 0 ? [] : [6 * scale, 4 * scale]);
    g.beginPath();
    points.forEach(([i, v], j) => (j ? g.lineTo(x(i), y(v)) : g.moveTo(x(i), y(v))));
    g.stroke();
  });
  g.setLineDash([]);
  const shown = state.steps[state.shown];
  if (shown) {
    g.fillStyle = '#1a56db';
    g.beginPath();
    g.arc(x(shown.index), y(shown.meanLogit), 4 * scale, 0, 2 * Math.PI);
    g.fill();
  }
}

// The URL holds model, settings and step, so a shared link reproduces the same picture.
function writeUrl() {
  const p = new URLSearchParams();
  p.set('model', $('model').value);
  const live = state.live[$('model').value];
  if (live) p.set('train', String(live.iterations));
  for (const f of FIELDS) p.set(f, $(f).value);
  p.set('step', String(state.shown));
  $('full').href = `?${p}`;
  if (state.embed) p.set('embed', '1');
  history.replaceState(null, '', `?${p}`);
  if (!$('qr').hidden) worker.postMessage(msg.qr(state.nextId++, location.href));
}

// The core's defaults are f32: show 0.1, not 0.10000000149011612.
const tidy = (v) => (typeof v === 'number' ? String(Number(v.toPrecision(6))) : v);

async function readUrl() {
  const p = new URLSearchParams(location.search);
  // A link to a model trained in the page retrains it (training is deterministic for a seed).
  const live = /^live-(25gaussians|swissroll)$/.exec(p.get('model') ?? '');
  if (live) {
    for (const f of FIELDS) $(f).value = p.get(f) ?? tidy(state.defaults[f]);
    state.wantedStep = Number(p.get('step') ?? NaN);
    state.pendingLive = p;
    $('live').open = true;
    $('live-toy').value = live[1];
    $('live-iterations').value = p.get('train') ?? $('live-iterations').value;
    train(live[1], Math.max(1, Math.min(20000, Number($('live-iterations').value) || 1500)));
    return;
  }
  if (p.get('model') && state.models.includes(p.get('model'))) $('model').value = p.get('model');
  for (const f of FIELDS) $(f).value = p.get(f) ?? tidy(state.defaults[f]);
  await applyRecommended({ keep: FIELDS.filter((f) => p.has(f)) });
  // A shared link names its model: reproduce its picture, down to the step it showed.
  if (p.has('model') && state.models.includes(p.get('model'))) {
    state.wantedStep = Number(p.get('step') ?? NaN);
    start();
  } else if (state.models.length) {
    startWhenSeen();
  }
}

// A plain visit (a poster's QR code, a project page's link) refines the first model at once, so
// the flow is the first thing a visitor sees. An embedded view waits until its frame is scrolled
// into view: a paper's page may hold it far down, and the visitor may never get there.
function startWhenSeen() {
  const begin = () => { if (!state.running && !state.training && state.steps.length === 0) start(); };
  if (!state.embed) { begin(); return; }
  const seen = new IntersectionObserver((entries) => {
    if (!entries.some((e) => e.isIntersecting)) return;
    seen.disconnect();
    begin();
  });
  seen.observe(document.body);
}

// A model may recommend its own η and γ (a steep critic needs smaller steps); the manifest is
// small and the worker fetches it anyway, so the browser's cache serves it twice.
async function applyRecommended({ keep = [] } = {}) {
  const name = $('model').value;
  if (!name) return;
  let recommended = state.live[name]?.recommended ?? null;
  $('about').textContent = state.live[name] ? 'A 2D GAN trained in this page.' : '';
  if (!state.live[name]) {
    try {
      const response = await fetch(`models/${name}/manifest.json`);
      if (response.ok) {
        const manifest = await response.json();
        recommended = manifest.recommended ?? null;
        $('about').textContent = describe(manifest);
      }
    } catch {
      // The refinement itself reports a failed fetch, with its hint.
    }
  }
  for (const f of ['eta', 'gamma']) {
    if (!keep.includes(f)) $(f).value = tidy(recommended ? recommended[f] : state.defaults[f]);
  }
  $('note').textContent = recommended
    ? `${name} recommends η = ${recommended.eta}, γ = ${recommended.gamma} (the paper's defaults are η = 0.1, γ = 0.01).`
    : '';
}

// One line on what the model is and what judges its samples.
function describe(manifest) {
  const terms = manifest.critic_terms ?? [];
  const critic = terms.length
    ? ` Critic: a borrowed discriminator plus ${terms.map((t) => t.name).join(' and ')} (${terms.map((t) => t.description).join('; ')}), their logits summed.`
    : '';
  return `${manifest.description ?? ''}${critic}`;
}

async function loadIndex() {
  try {
    const response = await fetch('models/index.json');
    if (!response.ok) throw new Error(`models/index.json: HTTP ${response.status}`);
    state.models = (await response.json()).models;
  } catch (e) {
    showError({ message: `The list of models could not be loaded (${e.message}).`, hint: 'Check your connection and reload.' });
  }
  $('model').replaceChildren(...state.models.map((m) => new Option(m, m)));
  if (state.models.length === 0) $('note').textContent = 'No models are bundled with this page yet.';
}

let timer = null;
function togglePlay() {
  state.playing = !state.playing;
  $('play').textContent = state.playing ? '❚❚' : '▶';
  clearInterval(timer);
  if (!state.playing) return;
  if (state.shown >= state.steps.length - 1) show(0);
  timer = setInterval(() => {
    if (state.shown + 1 < state.steps.length) show(state.shown + 1);
    else togglePlay();
  }, 150);
}

// The before and after pictures side by side, as the visitor sees them, in one PNG.
function download() {
  const [a, b] = [$('before'), $('after')];
  if (!a.width || !b.width) return;
  const gap = 8;
  const out = document.createElement('canvas');
  out.width = a.width + gap + b.width;
  out.height = Math.max(a.height, b.height);
  const g = out.getContext('2d');
  g.fillStyle = '#fff';
  g.fillRect(0, 0, out.width, out.height);
  g.drawImage(a, 0, 0);
  g.drawImage(b, a.width + gap, 0);
  const link = document.createElement('a');
  link.download = `dgflow-${$('model').value}-${$('method').value}-seed${$('seed').value}-step${state.shown}.png`;
  link.href = out.toDataURL('image/png');
  link.click();
}

function toggleQr() {
  if (!$('qr').hidden) {
    $('qr').hidden = true;
    $('qr-button').setAttribute('aria-expanded', 'false');
    return;
  }
  worker.postMessage(msg.qr(state.nextId++, location.href));
}

for (const [id, reference] of [['before', () => state.steps[0]], ['after', () => state.steps[state.shown]]]) {
  const canvas = $(id);
  canvas.addEventListener('pointermove', (e) => {
    const i = sampleAt(canvas, reference(), e);
    if (i !== null) $('inspect').textContent = logitLine(i);
  });
  canvas.addEventListener('click', (e) => {
    const i = sampleAt(canvas, reference(), e);
    if (i !== null) select(i);
  });
}
window.addEventListener('resize', drawChart);
$('download').addEventListener('click', download);
$('qr-button').addEventListener('click', toggleQr);
$('controls').addEventListener('submit', (e) => { e.preventDefault(); start(); });
$('fresh').addEventListener('click', () => { $('seed').value = String(Math.floor(Math.random() * 1e9)); if (!state.running) start(); });
$('scrubber').addEventListener('input', (e) => show(Number(e.target.value)));
$('play').addEventListener('click', togglePlay);
$('prefer').addEventListener('change', (e) => worker.postMessage(msg.init(e.target.value)));
$('model').addEventListener('change', () => applyRecommended());
$('live-controls').addEventListener('submit', (e) => {
  e.preventDefault();
  const iterations = Math.max(100, Math.min(20000, Number($('live-iterations').value) || 1500));
  $('live-iterations').value = String(iterations);
  train($('live-toy').value, iterations);
});

document.body.classList.toggle('embed', state.embed);

// The service worker (sw.js) keeps the page working offline and makes it cross-origin isolated,
// which wasm threads (the CPU backend on every core) need; a static host cannot send those
// headers. They apply from the page's next load, so on a first visit the page reloads once, as
// soon as the service worker controls it and before anything large is fetched. At most once per
// tab session (a browser that ignores the headers is not reloaded in a loop), never in an iframe
// (isolation there is the embedding page's to give), and not for a single core.
async function reloadIsolated() {
  if (!('serviceWorker' in navigator)) return false;
  const registered = navigator.serviceWorker.register('sw.js').catch((e) => console.warn(`offline use unavailable: ${e.message}`));
  if (self.crossOriginIsolated || window.top !== window || (navigator.hardwareConcurrency || 1) < 2) return false;
  try {
    if (sessionStorage.getItem('dgflow-isolation-reload')) return false;
    sessionStorage.setItem('dgflow-isolation-reload', '1');
  } catch {
    return false; // no session storage: no guard against a loop, so no reload
  }
  if (!(await registered)) return false;
  const controlled = navigator.serviceWorker.controller ? Promise.resolve(true)
    : new Promise((resolve) => navigator.serviceWorker.addEventListener('controllerchange', () => resolve(true), { once: true }));
  if (!(await Promise.race([controlled, new Promise((resolve) => setTimeout(resolve, 3000, false))]))) return false;
  location.reload();
  return true;
}

if (!(await reloadIsolated())) {
  await loadIndex();
  worker.postMessage(msg.init('auto'));
}
