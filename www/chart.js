// The mean discriminator logit per step, the shown step marked; the followed sample's logit dashed.

export function drawChart(canvas, { steps, total, shown, selected }) {
  const known = steps.filter(Boolean);
  const scale = window.devicePixelRatio || 1;
  canvas.width = Math.round(canvas.clientWidth * scale) || 600;
  canvas.height = Math.round(140 * scale);
  const g = canvas.getContext('2d');
  g.clearRect(0, 0, canvas.width, canvas.height);
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
  const step = steps[shown];
  if (step) {
    g.fillStyle = '#1a56db';
    g.beginPath();
    g.arc(x(step.index), y(step.meanLogit), 4 * scale, 0, 2 * Math.PI);
    g.fill();
  }
}
