// "Reject or refine": the same starting samples moved by a flow and selected by DRS and MH-GAN,
// each shown where it has spent the same budget (critic evaluations per sample), with the
// critic's verdict on what each delivers. The core chooses the runs and their strides; this
// module only lays them out.
import { drawStep } from './samples.js';
import { drawHistogram, logitRange } from './chart.js';

// One figure: a caption, the samples (a picture or sentences) and a small histogram.
function panel(name) {
  const figure = document.createElement('figure');
  figure.className = 'contender';
  const caption = document.createElement('figcaption');
  const canvas = document.createElement('canvas');
  canvas.setAttribute('role', 'img');
  canvas.setAttribute('aria-label', `Samples: ${name}`);
  const list = document.createElement('ol');
  list.className = 'text';
  list.setAttribute('aria-label', `Sentences: ${name}`);
  const verdict = document.createElement('canvas');
  verdict.className = 'verdict';
  verdict.setAttribute('role', 'img');
  verdict.setAttribute('aria-label', `Histogram of the critic's logits: ${name}, over the starting samples'`);
  figure.append(caption, canvas, list, verdict);
  return { figure, caption, canvas, list, verdict };
}

// The figures of a comparison: the starting samples, then one per run; `names` maps a method
// to its label.
export function layOut(container, runs, names) {
  const panels = [panel('the starting samples'), ...runs.map((r) => panel(names[r.method] ?? r.method))];
  container.replaceChildren(...panels.map((p) => p.figure));
  return panels;
}

// How many view steps every run has reached.
export function reached(runs) {
  return Math.min(...runs.map((r) => Math.floor((r.steps.length - 1) / r.stride))) + 1;
}

const mean = (values) => values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
const amount = (v) => (Number.isInteger(v) ? String(v) : v.toFixed(1));

// What a run delivers at a step: DRS its accepted samples (after step 0, which every run shares),
// the others all of theirs.
function delivered(run, step) {
  const judged = run.method === 'drs' && step.index > 0;
  return judged ? step.logits.filter((_, i) => step.accepted[i]) : [...step.logits];
}

// What a run's caption says at a step: what it delivered, what it burnt, what it spent.
function account(run, step, name) {
  const n = step.logits.length;
  const per = amount(step.spent.perDelivered);
  const logit = `mean logit ${mean(delivered(run, step)).toFixed(2)}`;
  if (run.method === 'drs') {
    const burnt = step.spent.critic - step.delivered;
    return `${name} · ${step.delivered} of ${n} accepted, ${burnt} proposals burnt · ${logit} · ${per} evaluations per accepted sample`;
  }
  if (run.method === 'mh-gan') {
    const moves = run.steps.slice(1, step.index + 1).reduce((sum, s) => sum + (s ? s.accepted.reduce((a, b) => a + b, 0) : 0), 0);
    return `${name} · ${moves} of ${n * step.index} proposals accepted · ${logit} · ${per} evaluations per sample`;
  }
  return `${name} · step ${step.index} · ${logit} · ${per} evaluations per sample`;
}

// View step `k` of every run into its panel; false where a run has not reached it yet.
export function showMatched(panels, runs, k, { kind, names, hideRejected }) {
  const start = runs[0].steps[0];
  const steps = runs.map((r) => r.steps[k * r.stride]);
  if (!start || steps.some((s) => !s)) return false;
  const range = logitRange(start.logits, ...runs.map((r, i) => delivered(r, steps[i])));
  const view = { kind, selected: null, onSelect: () => {} };
  const [first, ...rest] = panels;
  drawStep(first.canvas, first.list, start, { ...view, reference: null });
  first.caption.textContent = `Start: the same ${start.logits.length} samples for all · mean logit ${mean(start.logits).toFixed(2)}`;
  drawHistogram(first.verdict, { ghost: start.logits, current: start.logits, range, label: 'start', height: 80 });
  runs.forEach((run, i) => {
    const step = steps[i];
    const accepted = run.method === 'drs' && step.index > 0 ? step.accepted : null;
    drawStep(rest[i].canvas, rest[i].list, step, { ...view, reference: start, accepted, hideRejected });
    rest[i].caption.textContent = account(run, step, names[run.method] ?? run.method);
    const label = run.method === 'drs' ? 'accepted' : `step ${step.index}`;
    drawHistogram(rest[i].verdict, { ghost: start.logits, current: delivered(run, step), range, label, height: 80 });
  });
  return true;
}
