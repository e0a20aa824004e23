// Samples on the page, as the core shows them: an image grid or a scatter plot (RGBA pixels the
// core drew), or sentences (the core decoded). The page only places them.

// A step's samples: into `canvas` (pictures) or `list` (sentences, with the characters that
// differ from `reference`'s marked and the sample `selected` outlined; `onSelect(i)` on a tap).
// Where `accepted` is given (DRS: 1 for each accepted sample), the others are greyed out, or
// with `hideRejected` left empty (a plot the core has drawn so already).
export function drawStep(canvas, list, step, { kind, reference, selected, onSelect, accepted = null, hideRejected = false }) {
  list.replaceChildren();
  canvas.classList.toggle('plot', kind === 'points'); // a dark theme darkens plots (style.css)
  if ((kind === 'image' || kind === 'points') && step.rgba) {
    drawPicture(canvas, step);
    if (accepted && step.columns) veilTiles(canvas, step, accepted, hideRejected);
  } else if (kind === 'text' && step.text) {
    canvas.removeAttribute('width');
    step.text.forEach((line, i) => {
      const rejected = Boolean(accepted && !accepted[i]);
      const li = rejected && hideRejected
        ? Object.assign(document.createElement('li'), { className: 'empty', textContent: 'not accepted yet' })
        : textLine(line, reference?.text?.[i], step.logits[i]);
      // Before and after of each sentence on adjacent lines (the lists share one column).
      li.style.order = String(2 * i + (reference ? 1 : 0));
      li.classList.toggle('selected', i === selected);
      li.classList.toggle('rejected', rejected);
      li.addEventListener('click', () => onSelect(i));
      list.append(li);
    });
  }
}

// Veils the tiles of the samples not accepted, or (`hide`) empties them.
function veilTiles(canvas, { tile, gap, columns }, accepted, hide) {
  const g = canvas.getContext('2d');
  g.fillStyle = hide ? 'rgb(214, 214, 214)' : 'rgba(128, 128, 128, 0.75)';
  accepted.forEach((a, i) => {
    if (!a) g.fillRect(gap + (i % columns) * (tile + gap), gap + Math.floor(i / columns) * (tile + gap), tile, tile);
  });
}

// `{rgba, width, height}` into a canvas of that size.
export function drawPicture(canvas, { rgba, width, height }) {
  canvas.width = width;
  canvas.height = height;
  canvas.getContext('2d').putImageData(new ImageData(rgba, width, height), 0, 0);
}

// A sentence with the characters that differ from the reference highlighted, and its logit.
// Model output goes in as text nodes only.
export function textLine(line, reference, logit) {
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

// The index of the image sample under a pointer, from the grid layout the core reports.
export function sampleAt(canvas, step, event) {
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

// Sample `i` through the flow: about 26 frames of its tile (images) or its sentence (text),
// with its logit at each; returns the caption.
export function drawTrajectory({ strip, list }, steps, i, kind) {
  const known = steps.filter(Boolean);
  const every = Math.max(1, Math.ceil(known.length / 26));
  const frames = known.filter((s, k) => k % every === 0 || k === known.length - 1);
  list.replaceChildren();
  if (kind === 'image' && frames[0].columns) {
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
    if (kind === 'text') {
      frames.forEach((s, k) => list.append(textLine(s.text[i], frames[k - 1]?.text[i], s.logits[i])));
    }
  }
  const indices = frames.map((s) => s.index).join(', ');
  const logits = frames.map((s) => s.logits[i].toFixed(2)).join(' → ');
  return `Sample ${i + 1} through the flow (steps ${indices}): logit ${logits}`;
}
