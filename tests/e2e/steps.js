// Runs a refinement to its end, a step at a time: each step's time and, unless only the times are
// wanted, what the smoke test compares with the native CLI. Shared by the smoke page, the bench's
// worker and the JavaScriptCore runner, so that every engine reports steps alike.
export async function runSteps(refinement, { timesOnly = false } = {}) {
  const ms = [];
  const steps = [];
  for (;;) {
    const started = performance.now();
    const step = await refinement.next();
    if (step === null) break;
    ms.push(performance.now() - started);
    if (!timesOnly) {
      steps.push({
        index: step.index,
        logits: Array.from(step.logits),
        samples: step.samples ? Array.from(step.samples) : null,
        gridPixels: step.rgba ? step.rgba.length : 0,
      });
    }
  }
  return { ms, steps };
}
