// Which CPU module this device runs faster: the relaxed-SIMD build (a fused multiply-add in the
// convolutions) is faster on some CPUs and slower on others (bench/RESULTS.md has both), so the
// page measures it where it runs. A first visit uses the plain-SIMD module; once its first run
// has ended, and the page is idle on the CPU, it times a few steps of each module (in a worker of
// their own, closed after) and keeps the relaxed one for later visits only if it was faster.
import { relaxedSimd } from './simd.js';

const KEY = 'dgflow:cpu-module';
// Batch and steps of each module's trial: five of its steps are timed (see cpu-trial.js).
const TRIAL = { batch: 16, steps: 7 };
// Relaxed SIMD must beat plain SIMD by this much, so that noise does not pick it.
const MARGIN = 0.98;
// A trial not done by then is dropped (a worker or thread pool that never started); a few
// seconds is usual.
const TRIAL_MS = 45_000;

function stored() {
  try {
    const choice = JSON.parse(localStorage.getItem(KEY));
    // A new browser version may compile either module differently: measure again.
    return choice?.browser === navigator.userAgent ? choice : null;
  } catch {
    return null; // storage blocked (a private window, an iframe): always the plain module
  }
}

// Whether the measured choice on this device is the relaxed-SIMD module.
export function relaxedChosen() {
  return stored()?.variant === '-relaxed';
}

// Whether this device still needs its trial: a browser that validates relaxed SIMD, no choice yet,
// and a visitor who has not asked to save data (the trial downloads the other module).
export function trialWanted() {
  if (!relaxedSimd() || stored() || navigator.connection?.saveData) return false;
  try {
    return typeof localStorage !== 'undefined';
  } catch {
    return false;
  }
}

// Times each module on `threads` threads and stores the choice. Resolves to it (null if cancelled
// or failed: the next visit tries again); `cancel()` stops it, e.g. when a run starts.
export function timeModules(threads) {
  let worker = null;
  let cancelled = false;
  const attempt = (variant) => new Promise((resolve, reject) => {
    worker = new Worker(new URL('cpu-trial.js', import.meta.url), { type: 'module' });
    const end = () => { clearTimeout(timer); worker.terminate(); };
    const timer = setTimeout(() => { end(); reject(new Error(`no result within ${TRIAL_MS / 1000} s`)); }, TRIAL_MS);
    worker.onmessage = ({ data }) => { end(); data.error ? reject(new Error(data.error)) : resolve(data.ms); };
    worker.onerror = (e) => { end(); reject(new Error(e.message || 'the trial worker failed')); };
    worker.postMessage({ folder: `pkg-cpu${threads > 1 ? '-mt' : ''}${variant}`, threads, ...TRIAL });
  });
  // A worker that never starts (seen in Firefox) gets one fresh try.
  const once = (variant) => attempt(variant).catch((e) => {
    if (cancelled) throw e;
    console.warn(`CPU module trial: ${e.message}; trying once more`);
    return attempt(variant);
  });
  const done = (async () => {
    try {
      const plain = await once('');
      if (cancelled) return null;
      const relaxed = await once('-relaxed');
      if (cancelled) return null;
      const choice = { variant: relaxed < MARGIN * plain ? '-relaxed' : '', plain, relaxed, threads, browser: navigator.userAgent };
      localStorage.setItem(KEY, JSON.stringify(choice));
      return choice;
    } catch (e) {
      if (!cancelled) console.warn(`CPU module trial: ${e.message}`);
      return null;
    }
  })();
  return { done, cancel: () => { cancelled = true; worker?.terminate(); } };
}
