// The figures of the flow, in the page's colours (light or dark): the mean logit per step, and
// the discriminator's verdict on the samples shown, as a histogram of their logits.

const colour = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

// A canvas at its displayed size in device pixels; returns its context and the scale.
function sized(canvas, height) {
  const scale = window.devicePixelRatio || 1;
  canvas.width = Math.round(canvas.clientWidth * scale) || 600;
  canvas.height = Math.round(height * scale);
  const g = canvas.getContext('2d');
  g.clearRect(0, 0, canvas.width, canvas.height);
  g.font = `${11 * scale}px system-ui, sans-serif`;
  return { g, scale };
}

// The mean logit per step, the shown step marked; the followed sample's logit dashed.
export function drawChart(canvas, { steps, total, shown, selected }) {
  const { g, scale } = sized(canvas, 140);
  const known = steps.filter(Boolean);
  if (known.length === 0) return;
  const series = [known.map((s) => [s.index, s.meanLogit])];
  if (selected !== null) series.push(known.map((s) => [s.index, s.logits[selected]]));
  const values = series.flat().map(([, v]) => v).filter(Number.isFinite);
  let [lo, hi] = [Math.min(...values), Math.max(...values)];
  if (hi - lo < 1e-6) [lo, hi] = [lo - 0.5, hi + 0.5];
  const last = Math.max(total, known[known.length - 1].index, 1);
  const pad = 28 * scale;
  const x = (i) => pad + ((canvas.width - 2 * pad) * i) / last;
  const y = (v) => canvas.height - pad / 2 - ((canvas.height - pad) * (v - lo)) / (hi - lo);
  g.fillStyle = colour('--muted');
  g.fillText(hi.toFixed(2), 2, y(hi) + 4 * scale);
  g.fillText(lo.toFixed(2), 2, y(lo));
  series.forEach((points, k) => {
    g.strokeStyle = colour(k === 0 ? '--after' : '--before');
    g.lineWidth = 2 * scale;
    g.setLineDash(k === 0 ? [] : [6 * scale, 4 * scale]);
    g.beginPath();
    points.forEach(([i, v], j) => (j ? g.lineTo(x(i), y(v)) : g.moveTo(x(i), y(v))));
    g.stroke();
  });
  g.setLineDash([]);
  const step = steps[shown];
  if (step) {
    g.fillStyle = colour('--after');
    g.beginPath();
    g.arc(x(step.index), y(step.meanLogit), 4 * scale, 0, 2 * Math.PI);
    g.fill();
  }
}

// How many samples' logits fall in each of `bins` equal bins of [lo, hi].
export function histogram(logits, lo, hi, bins) {
  const counts = new Array(bins).fill(0);
  const width = (hi - lo) / bins || 1;
  for (const v of logits) {
    if (!Number.isFinite(v)) continue;
    counts[Math.min(bins - 1, Math.max(0, Math.floor((v - lo) / width)))] += 1;
  }
  return counts;
}

// The range that holds every one of `sets` of logits (never empty).
export function logitRange(...sets) {
  const all = sets.flatMap((set) => [...set]).filter(Number.isFinite);
  let [lo, hi] = all.length ? [Math.min(...all), Math.max(...all)] : [0, 1];
  if (hi - lo < 1e-6) [lo, hi] = [lo - 0.5, hi + 0.5];
  return [lo, hi];
}

// The logits of the samples shown (`current`), over the starting samples' in grey (`ghost`):
// the whole distribution moving, not only its mean. Figures that sit side by side share a
// `range`; `label` names what is shown.
export function drawHistogram(canvas, { ghost, current, label, range = logitRange(ghost, current), height = 140 }) {
  const { g, scale } = sized(canvas, height);
  const [lo, hi] = range;
  const bins = Math.max(8, Math.min(40, Math.round(Math.sqrt(ghost.length) * 2)));
  const before = histogram(ghost, lo, hi, bins);
  const now = histogram(current, lo, hi, bins);
  const tallest = Math.max(...before, ...now, 1);
  const pad = 16 * scale;
  const width = (canvas.width - 2 * pad) / bins;
  const bar = (counts, fill, inset) => {
    g.fillStyle = fill;
    counts.forEach((c, b) => {
      const h = ((canvas.height - 2 * pad) * c) / tallest;
      g.fillRect(pad + b * width + inset, canvas.height - pad - h, Math.max(1, width - 2 * inset), h);
    });
  };
  bar(before, 'rgba(128, 128, 128, 0.45)', 0);
  bar(now, colour('--after'), width * 0.2);
  g.fillStyle = colour('--muted');
  g.fillText(lo.toFixed(1), pad, canvas.height - 2 * scale);
  const high = hi.toFixed(1);
  g.fillText(high, canvas.width - pad - g.measureText(high).width, canvas.height - 2 * scale);
  g.fillText(label, pad, 11 * scale);
}
