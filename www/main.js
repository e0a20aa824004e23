// The page: owns the worker, keeps all UI state in `state` (state.js), and renders what the
// core returns. The core also owns the page's defaults and limits: they come with `ready`, and a
// model's own defaults with `described`.
import { msg } from './protocol.js';
import { LIVE_MODEL, SETTINGS, linkTo, linked, state } from './state.js';
import { drawChart, drawHistogram } from './chart.js';
import { drawPicture, drawStep, drawTrajectory, sampleAt } from './samples.js';
import { layOut, reached, showMatched } from './matched.js';
import { reloadIsolated } from './isolation.js';
import { relaxedChosen, timeModules, trialWanted } from './cpu-choice.js';

const $ = (id) => document.getElementById(id);

let worker = newWorker();

function newWorker() {
  const w = new Worker(new URL('worker.js', import.meta.url), { type: 'module' });
  w.onerror = (e) => showError({ message: `The compute worker failed to start (${e.message || 'unknown error'}).`, hint: 'Reload the page; this browser may not support module workers.' });
  w.onmessage = ({ data }) => handlers[data.type]?.(data);
  return w;
}

// A worker that has not reported ready by then is stuck (seen in Firefox: a fresh context's
// worker that never answered): a fresh worker gets one more try, then the page says so.
const STARTUP_MS = 30_000;
function watchStartup(tries = 1) {
  setTimeout(() => {
    if (state.backend) return;
    if (tries > 0) {
      console.warn(`the compute worker did not start within ${STARTUP_MS / 1000} s; starting another`);
      worker.terminate();
      worker = newWorker();
      worker.postMessage(msg.init('auto', relaxedChosen()));
      watchStartup(tries - 1);
    } else {
      showError({ message: `The compute engine did not start within ${(2 * STARTUP_MS) / 1000} s.`, hint: 'Reload the page; if it happens again, try another browser.' });
    }
  }, STARTUP_MS);
}

// Requests answered by a single reply (`describe`): id → {resolve, reject}.
const pending = new Map();
function ask(message) {
  return new Promise((resolve, reject) => {
    pending.set(message.id, { resolve, reject });
    worker.postMessage(message);
  });
}

const handlers = {
  ready({ backend, reason, defaults, limits, threads }) {
    Object.assign(state, { backend, reason, threads, limits });
    state.defaults ??= defaults;
    const cores = threads > 1 ? ` (${threads} threads)` : '';
    $('backend').textContent = backend === 'webgpu'
      ? 'Running on your GPU (WebGPU).'
      : `Running on your CPU${cores}${reason ? ` — ${reason}` : ''}.`;
    applyLimits();
    if (!state.initialised) { state.initialised = true; readUrl(); }
    $('run').disabled = state.models.length === 0;
  },
  opened({ model, manifest, defaults, source }) {
    state.described.set(model, { manifest, defaults });
    state.brought.set(model, { source, url: state.opening?.url ?? null });
    state.opening = null;
    const label = `${manifest.name} (yours)`;
    const option = [...$('model').options].find((o) => o.value === model) ?? $('model').appendChild(new Option(label, model));
    option.textContent = label;
    $('model').value = model;
    $('progress').hidden = true;
    $('run').disabled = false;
    applyModelDefaults({ keep: state.pendingOwn ?? [] }).then(() => {
      state.pendingOwn = null;
      start();
    });
  },
  described({ id, model, manifest, defaults }) {
    state.described.set(model, { manifest, defaults });
    pending.get(id)?.resolve(state.described.get(model));
    pending.delete(id);
  },
  progress({ id, stage, done, total }) {
    if (id !== state.running && id !== state.opening?.id) return;
    const bar = $('progress');
    bar.hidden = false;
    const fraction = total ? done / total : 0;
    bar.firstElementChild.style.width = `${Math.round(100 * fraction)}%`;
    const stages = { refine: `refining: step ${done} of ${total}`, compare: `refining and selecting: step ${done} of ${total}` };
    bar.lastElementChild.textContent = stage.startsWith('download') && total
      ? `${stage}: ${(done / 1e6).toFixed(1)} of ${(total / 1e6).toFixed(1)} MB`
      : stages[stage] ?? `${stage}…`;
  },
  manifest({ id, manifest }) {
    if (id !== state.running) return;
    state.manifest = manifest;
    performance.mark('dgflow:model-ready');
  },
  contenders({ id, runs, total }) {
    if (id !== state.running) return;
    const kept = runs.map((r) => ({ ...r, steps: [] }));
    state.matched = { runs: kept, panels: layOut($('matched'), kept, methodNames()) };
    // The flow's steps are the view's: the figures below and the scrubber follow them.
    state.steps = kept[0].steps;
    state.total = total;
  },
  step({ id, step, run }) {
    if (id !== state.running) return;
    if (run !== undefined) { matchedStep(run, step); return; }
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
    const where = `${(ms / 1000).toFixed(1)} s on ${backend === 'webgpu' ? 'WebGPU' : 'the CPU'}`;
    $('note').textContent = state.matched
      ? `${state.matched.runs.map((r) => `${r.steps.length - 1} steps of ${methodNames()[r.method]}`).join(', ')} in ${where}.`
      : `${state.steps.length - 1} steps in ${where}.`;
    setBusy(false);
    if (Number.isInteger(state.wantedStep) && state.steps[state.wantedStep]) show(state.wantedStep);
    state.wantedStep = null;
    // Idle on the CPU after a first run: time the two CPU modules for later visits.
    // Not from a tab in the background: the trial would compete with what the visitor looks at.
    if (backend === 'cpu' && !state.cpuTrial && !document.hidden && trialWanted()) state.cpuTrial = timeModules(state.threads);
  },
  'train-progress'({ id, iteration, total, critic, image }) {
    if (id !== state.training) return;
    const bar = $('progress');
    bar.hidden = false;
    bar.firstElementChild.style.width = `${Math.round((100 * iteration) / total)}%`;
    bar.lastElementChild.textContent = `training: iteration ${iteration} of ${total} · critic loss ${critic.toFixed(3)} (1.386 is chance)`;
    // The generator so far, the whole picture (no run to compare it with yet).
    drawPicture($('before'), image);
    drawPicture($('after'), image);
    $('before-logit').textContent = `· the generator while training (iteration ${iteration})`;
  },
  trained({ id, name, iterations, defaults }) {
    if (id !== state.training) return;
    state.training = null;
    $('live-train').textContent = 'Train';
    $('progress').hidden = true;
    state.live[name] = { iterations, seed: Number($('seed').value), defaults };
    const label = `${name.slice(5)} (trained here, ${iterations} iterations)`;
    const option = [...$('model').options].find((o) => o.value === name) ?? $('model').appendChild(new Option(label, name));
    option.textContent = label;
    $('model').value = name;
    applyModelDefaults({ keep: state.pendingLive ? Object.keys(state.pendingLive) : [] });
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
    drawPicture($('qr'), image);
    $('qr').hidden = false;
    $('qr-button').setAttribute('aria-expanded', 'true');
  },
  error(e) {
    const asked = pending.get(e.id);
    if (asked) {
      // A question about a model: its run, if any, is not affected.
      pending.delete(e.id);
      asked.reject(e);
      showError(e);
      return;
    }
    if (e.code === 'qr') { showError(e); return; }
    if (state.opening?.id === e.id) {
      // A bundle that could not be opened: the page carries on with the model it had.
      state.opening = null;
      $('progress').hidden = true;
      showError(e);
      return;
    }
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

// Opens a bundle the visitor brings (files, or a URL from `?bundle=`) in the worker, which
// validates it as it does the page's own; `opened` then selects and refines it.
function openOwn(source) {
  if (state.running) start(); // stops the refinement in progress
  $('error').hidden = true;
  state.opening = { id: state.nextId++, url: source.url ?? null };
  const bar = $('progress');
  bar.hidden = false;
  bar.lastElementChild.textContent = 'opening your model…';
  worker.postMessage(msg.open(state.opening.id, source));
}

// Whose model is shown: a visitor's own says so, with where it came from.
function showWhose() {
  const name = $('model').value;
  const own = state.brought.get(name);
  const manifest = state.described.get(name)?.manifest;
  $('whose').hidden = !own;
  if (!own || !manifest) return;
  const by = manifest.provenance?.trained_by;
  const from = own.source === 'url'
    ? `opened from ${own.url}`
    : 'opened from your files; nothing was uploaded, so a link cannot bring it along: put the bundle online and share ?bundle= its address';
  $('whose').textContent = `Showing ${manifest.name}${by && by !== 'unknown' ? `, by ${by}` : ''} — not one of this page's models (${from}).`;
}

// A new run with the form's settings, stopping the one in progress first.
function restart() {
  if (state.running) {
    worker.postMessage(msg.cancel(state.running));
    state.running = null;
  }
  start();
}

// The form's limits are the core's: the largest steps, batch, η and γ a run accepts here, and
// the range of a live training run.
function applyLimits() {
  const { maxSteps, maxBatch, maxEta, maxGamma, maxBudget, defaultBudget, liveIterations: [fewest, most, suggested] } = state.limits;
  $('more').disabled = Number($('batch').value) >= maxBatch;
  Object.assign($('budget'), { max: maxBudget });
  if (!$('budget').value) $('budget').value = String(defaultBudget);
  Object.assign($('steps'), { max: maxSteps });
  Object.assign($('batch'), { max: maxBatch });
  Object.assign($('eta'), { max: maxEta });
  Object.assign($('gamma'), { max: maxGamma });
  const live = $('live-iterations');
  Object.assign(live, { min: fewest, max: most });
  if (!live.value) live.value = String(suggested);
}

// The core's defaults are f32: show 0.1, not 0.10000000149011612.
const tidy = (v) => (typeof v === 'number' ? String(Number(v.toPrecision(6))) : v);

function formSettings() {
  const s = {};
  for (const f of SETTINGS) {
    const el = $(f);
    s[f] = el.type === 'number' ? Number(el.value) : el.value;
  }
  return s;
}

function fillForm(settings) {
  for (const f of SETTINGS) if (settings[f] !== undefined) $(f).value = tidy(settings[f]);
  methodChanged();
}

// Starts a refinement with the form's settings, or stops the one in progress.
function start() {
  if (state.running) {
    worker.postMessage(msg.cancel(state.running));
    state.running = null;
    return;
  }
  $('error').hidden = true;
  // A run has the CPU to itself: a module trial still going is dropped (the next visit retries).
  state.cpuTrial?.cancel();
  state.steps = [];
  state.shown = 0;
  state.running = state.nextId++;
  state.runMethod = $('method').value;
  state.total = Number($('steps').value);
  state.matched = null;
  $('matched').replaceChildren();
  $('matched-legend').textContent = '';
  $('scrubber').max = '0';
  setBusy(true);
  writeUrl();
  const showRejected = $('show-rejected').checked;
  worker.postMessage(state.view === 'matched'
    ? msg.compare(state.running, $('model').value, formSettings(), Number($('budget').value), showRejected)
    : msg.refine(state.running, $('model').value, formSettings(), true));
}

// The method names the form shows.
function methodNames() {
  return Object.fromEntries([...$('method').options].map((o) => [o.value, o.textContent]));
}

// A step of one of the "reject or refine" runs; the view moves on once all of them have it.
function matchedStep(run, step) {
  const { runs } = state.matched;
  runs[run].steps[step.index] = step;
  if (run !== runs.length - 1 || step.index % runs[run].stride !== 0) return;
  const k = step.index / runs[run].stride;
  $('scrubber').max = String(reached(runs) - 1);
  if (state.shown === k - 1 || k === 0) show(k);
}

// Between the two views: before and after of one method, or reject or refine at one budget.
function setView(view) {
  state.view = view;
  const matched = view === 'matched';
  $('stage').classList.toggle('matched-mode', matched);
  $('matched-view').hidden = !matched;
  $('matched-button').setAttribute('aria-pressed', String(matched));
  $('matched-button').textContent = matched ? 'Back to before and after' : 'Reject or refine?';
  $('scrubber').setAttribute('aria-label', matched ? 'Budget spent' : 'Flow step');
  methodChanged();
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
  state.cpuTrial?.cancel();
  $('error').hidden = true;
  state.training = state.nextId++;
  $('live-train').textContent = 'Stop';
  worker.postMessage(msg.train(state.training, toy, iterations, Number($('seed').value)));
}

// `iterations` within the core's range for a live run, or its suggestion where not a number.
function liveIterations(iterations) {
  const [fewest, most, suggested] = state.limits.liveIterations;
  return Math.max(fewest, Math.min(most, Number(iterations) || suggested));
}

function show(index) {
  if (state.matched) { showMatchedStep(index); return; }
  const step = state.steps[index];
  if (!step || !state.manifest) return;
  state.shown = index;
  $('scrubber').value = String(index);
  $('step-label').textContent = String(index);
  const before = state.steps[0];
  $('before-logit').textContent = `· mean logit ${before.meanLogit.toFixed(3)}`;
  $('after-logit').textContent = `· mean logit ${step.meanLogit.toFixed(3)}${spentLine(step)}`;
  const view = { kind: state.manifest.kind, selected: state.selected, onSelect: select };
  // DRS shows a slot's latest proposal until one is accepted: the rest are greyed out.
  const accepted = state.runMethod === 'drs' && step.index > 0 ? step.accepted : null;
  drawStep($('before'), $('before-text'), before, { ...view, reference: null });
  drawStep($('after'), $('after-text'), step, { ...view, reference: before, accepted });
  describeSelected();
  drawFigures();
  writeUrl();
}

// View step `k` of reject or refine: every run where it has spent the same.
function showMatchedStep(k) {
  const { runs, panels } = state.matched;
  const options = { kind: state.manifest?.kind, names: methodNames(), hideRejected: !$('show-rejected').checked };
  if (!state.manifest || !showMatched(panels, runs, k, options)) return;
  state.shown = k;
  $('scrubber').value = String(k);
  const [flow, ...selecting] = runs;
  const proposals = selecting[0].stride * k;
  $('matched-legend').textContent = `Each at the same budget: ${k} step${k === 1 ? '' : 's'} of ${methodNames()[flow.method]}, ${proposals} more proposal${proposals === 1 ? '' : 's'} per sample for DRS and MH-GAN. Grey in each histogram: the starting samples' logits.`;
  drawFigures();
  writeUrl();
}

// What a step has cost: DRS and MH-GAN spend forward passes on proposals, the flows a forward
// and a backward pass per step, so methods compare at equal compute.
function spentLine(step) {
  if (!step.spent || step.index === 0) return '';
  const n = step.logits.length;
  const delivered = step.accepted && step.delivered < n ? ` · ${step.delivered} of ${n} accepted` : '';
  const per = step.spent.perDelivered;
  return `${delivered} · ${Number.isInteger(per) ? per : per.toFixed(1)} critic evaluations per sample`;
}

// The figures of the flow: the logits' histogram at the step shown (over step 0's) and the mean
// logit per step.
function drawFigures() {
  const [start, now] = [state.steps[0], state.steps[state.shown]];
  if (start && now) drawHistogram($('histogram'), { ghost: start.logits, current: now.logits, label: `step ${now.index}` });
  drawChart($('chart'), { steps: state.steps, total: state.total, shown: state.shown, selected: state.selected });
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
  const parts = { strip: $('trajectory-strip'), list: $('trajectory-text') };
  $('trajectory-caption').textContent = drawTrajectory(parts, state.steps, i, state.manifest.kind);
  figure.hidden = false;
}

// The URL holds model, settings and step, so a shared link reproduces the same picture.
function writeUrl() {
  const model = $('model').value;
  const own = state.brought.get(model);
  const view = { model, settings: formSettings(), step: state.shown, train: state.live[model]?.iterations, view: state.view, budget: $('budget').value, bundle: own?.url };
  $('full').href = linkTo(view);
  history.replaceState(null, '', linkTo(view, state.embed));
  if (!$('qr').hidden) worker.postMessage(msg.qr(state.nextId++, location.href));
}

async function readUrl() {
  const link = linked();
  // A link to a model trained in the page retrains it (training is deterministic for a seed).
  const live = LIVE_MODEL.exec(link.model ?? '');
  if (live) {
    fillForm({ ...state.defaults, ...link.settings });
    state.wantedStep = link.step;
    state.pendingLive = link.settings;
    $('live').open = true;
    $('live-toy').value = live[1];
    $('live-iterations').value = String(liveIterations(link.train));
    train(live[1], Number($('live-iterations').value));
    return;
  }
  // A link to a bundle elsewhere opens it (and then refines it, down to the step it showed).
  if (link.bundle) {
    fillForm({ ...state.defaults, ...link.settings });
    if (link.budget !== null) $('budget').value = link.budget;
    setView(link.view);
    state.wantedStep = link.step;
    state.pendingOwn = Object.keys(link.settings);
    openOwn({ url: link.bundle });
    return;
  }
  const named = link.model && state.models.includes(link.model);
  if (named) $('model').value = link.model;
  fillForm({ ...state.defaults, ...link.settings });
  if (link.budget !== null) $('budget').value = link.budget;
  setView(link.view);
  // A phone's first look: a 4×4 grid, tiles large enough to see, done in seconds (More samples
  // is one tap away); a link's own batch is kept.
  if (!link.settings.batch && matchMedia('(max-width: 700px)').matches) $('batch').value = String(state.limits.firstLookBatch);
  $('more').disabled = Number($('batch').value) >= state.limits.maxBatch;
  await applyModelDefaults({ keep: Object.keys(link.settings) });
  // A shared link names its model: reproduce its picture, down to the step it showed.
  if (named) {
    state.wantedStep = link.step;
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

// A model may recommend its own η and γ (a steep critic needs smaller steps): the core reads
// them from its manifest (`describe`) or from a model trained here, and the form takes them
// unless a link set them.
async function applyModelDefaults({ keep = [] } = {}) {
  const name = $('model').value;
  if (!name) return;
  showWhose();
  let defaults = state.live[name]?.defaults;
  $('about').textContent = defaults ? 'A 2D GAN trained in this page.' : '';
  if (!defaults) {
    try {
      const { manifest, defaults: own } = state.described.get(name) ?? await ask(msg.describe(state.nextId++, name));
      defaults = own;
      $('about').textContent = describeModel(manifest);
    } catch {
      return; // shown by the error handler; the refinement reports it again with its hint
    }
  }
  for (const f of ['eta', 'gamma']) {
    if (!keep.includes(f)) $(f).value = tidy(defaults[f]);
  }
  const paper = state.defaults;
  $('note').textContent = defaults.eta !== paper.eta || defaults.gamma !== paper.gamma
    ? `${name} recommends η = ${tidy(defaults.eta)}, γ = ${tidy(defaults.gamma)} (the paper's defaults are η = ${tidy(paper.eta)}, γ = ${tidy(paper.gamma)}).`
    : '';
}

// One line on what the model is and what judges its samples.
function describeModel(manifest) {
  const terms = manifest.critic_terms ?? [];
  const critic = terms.length
    ? ` Critic: a borrowed discriminator plus ${terms.map((t) => t.name).join(' and ')} (${terms.map((t) => t.description).join('; ')}), their logits summed.`
    : '';
  return `${manifest.description ?? ''}${critic}`;
}

async function loadIndex() {
  try {
    const response = await fetch('models/index.json', { signal: AbortSignal.timeout(STARTUP_MS) });
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

// The pictures as the visitor sees them, side by side in one PNG: before and after, or in the
// reject-or-refine view the start and every run.
function download() {
  const pictures = state.matched
    ? state.matched.panels.map((p) => p.canvas)
    : [$('before'), $('after')];
  if (pictures.some((c) => !c.width)) return;
  const gap = 8;
  const out = document.createElement('canvas');
  out.width = pictures.reduce((w, c) => w + c.width, 0) + gap * (pictures.length - 1);
  out.height = Math.max(...pictures.map((c) => c.height));
  const g = out.getContext('2d');
  g.fillStyle = '#fff';
  g.fillRect(0, 0, out.width, out.height);
  let x = 0;
  for (const c of pictures) {
    g.drawImage(c, x, 0);
    x += c.width + gap;
  }
  const what = state.matched ? `reject-or-refine-budget${$('budget').value}` : $('method').value;
  const link = document.createElement('a');
  link.download = `dgflow-${$('model').value.replace(/^yours:/, '')}-${what}-seed${$('seed').value}-step${state.shown}.png`;
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
window.addEventListener('resize', drawFigures);
// A tab sent to the background drops a module trial still going (the next visit retries): it
// would compete with the tab in front, which may be this site's too.
document.addEventListener('visibilitychange', () => { if (document.hidden) state.cpuTrial?.cancel(); });
$('download').addEventListener('click', download);
$('qr-button').addEventListener('click', toggleQr);
$('run').addEventListener('click', start);
// DRS and MH-GAN select among the generator's samples: no step size, no noise; only DRS has a
// percentile. Reject or refine runs the form's flow (DGflow-KL where it names DRS or MH-GAN)
// beside both, at the budget.
function methodChanged() {
  const matched = state.view === 'matched';
  const selects = ['drs', 'mh-gan'].includes($('method').value);
  for (const f of ['eta', 'gamma']) $(f).disabled = selects && !matched;
  $('percentile').disabled = !(matched || $('method').value === 'drs');
  $('steps').disabled = matched;
}
$('method').addEventListener('change', methodChanged);
$('controls').addEventListener('submit', (e) => { e.preventDefault(); restart(); });
// The paper's settings for the model shown (η, γ, steps, DGflow-KL), one click away.
$('paper').addEventListener('click', () => {
  const { method, eta, gamma, steps } = state.defaults;
  fillForm({ method, eta, gamma, steps });
  $('note').textContent = '';
  restart();
});
// More samples: four times as many, up to the page's limit.
$('more').addEventListener('click', () => {
  $('batch').value = String(Math.min(state.limits.maxBatch, 4 * Number($('batch').value || 1)));
  $('more').disabled = Number($('batch').value) >= state.limits.maxBatch;
  restart();
});
// On a phone the settings and the explanation each open from one button.
for (const [button, panel] of [['settings-button', 'settings'], ['explain-button', 'explain']]) {
  $(button).addEventListener('click', () => {
    const open = $(panel).classList.toggle('open');
    $(button).setAttribute('aria-expanded', String(open));
    if (open) {
      drawFigures();
      $(panel).scrollIntoView({ behavior: 'smooth', block: 'start' });
    }
  });
}
// The comparison: before on the left of the line, after on its right; drag it with a finger or
// the mouse, or move it with the arrow keys.
function setSplit(fraction) {
  const split = Math.max(0, Math.min(1, fraction));
  $('compare').style.setProperty('--split', `${(100 * split).toFixed(1)}%`);
  $('split').setAttribute('aria-valuenow', String(Math.round(100 * split)));
  $('split').setAttribute('aria-valuetext', `${Math.round(100 * split)} % before, the rest after`);
}
const splitAt = (event) => {
  const rect = $('compare').getBoundingClientRect();
  return (event.clientX - rect.left) / rect.width;
};
$('split').addEventListener('pointerdown', (e) => {
  e.preventDefault();
  $('split').setPointerCapture(e.pointerId);
  setSplit(splitAt(e));
});
$('split').addEventListener('pointermove', (e) => {
  if ($('split').hasPointerCapture(e.pointerId)) setSplit(splitAt(e));
});
$('split').addEventListener('keydown', (e) => {
  const now = Number($('split').getAttribute('aria-valuenow')) / 100;
  const moves = { ArrowLeft: now - 0.05, ArrowDown: now - 0.05, ArrowRight: now + 0.05, ArrowUp: now + 0.05, Home: 0, End: 1 };
  if (!(e.key in moves)) return;
  e.preventDefault();
  setSplit(moves[e.key]);
});
setSplit(0.5);
$('matched-button').addEventListener('click', () => {
  setView(state.view === 'matched' ? 'single' : 'matched');
  restart();
});
// Grey the proposals DRS has not accepted, or leave their places empty: the page veils tiles and
// sentences itself; a plot is drawn by the core as asked, so a 2D model's runs are made again.
$('show-rejected').addEventListener('change', () => {
  if (state.manifest?.kind === 'points' && state.matched) restart();
  else show(state.shown);
});
$('fresh').addEventListener('click', () => { $('seed').value = String(Math.floor(Math.random() * 1e9)); if (!state.running) start(); });
$('scrubber').addEventListener('input', (e) => show(Number(e.target.value)));
$('play').addEventListener('click', togglePlay);
$('prefer').addEventListener('change', (e) => worker.postMessage(msg.init(e.target.value, relaxedChosen())));
$('model').addEventListener('change', () => applyModelDefaults());
$('open-own').addEventListener('click', () => $('own-files').click());
$('own-files').addEventListener('change', (e) => {
  const files = [...e.target.files];
  e.target.value = '';
  if (files.length) openOwn({ files });
});
// Drag and drop anywhere on the page: the zone shows while files are held over it.
let dragDepth = 0;
const holdsFiles = (e) => [...(e.dataTransfer?.types ?? [])].includes('Files');
document.addEventListener('dragenter', (e) => {
  if (!holdsFiles(e) || state.embed) return;
  dragDepth++;
  $('drop-zone').hidden = false;
});
document.addEventListener('dragleave', () => {
  dragDepth = Math.max(0, dragDepth - 1);
  if (dragDepth === 0) $('drop-zone').hidden = true;
});
document.addEventListener('dragover', (e) => { if (holdsFiles(e)) e.preventDefault(); });
document.addEventListener('drop', (e) => {
  if (!e.dataTransfer?.files?.length) return;
  e.preventDefault();
  dragDepth = 0;
  $('drop-zone').hidden = true;
  if (!state.embed) openOwn({ files: [...e.dataTransfer.files] });
});
$('live-controls').addEventListener('submit', (e) => {
  e.preventDefault();
  $('live-iterations').value = String(liveIterations($('live-iterations').value));
  train($('live-toy').value, Number($('live-iterations').value));
});

document.body.classList.toggle('embed', state.embed);

if (!(await reloadIsolated())) {
  await loadIndex();
  worker.postMessage(msg.init('auto', relaxedChosen()));
  watchStartup();
}
