// One CPU module's trial (see cpu-choice.js): the median time of a DGflow step of a model of the
// bundled CIFAR-10 GAN's shapes (random weights) on this device, after one untimed step.
self.onmessage = async ({ data: { folder, threads, batch, steps } }) => {
  try {
    const core = await import(`./${folder}/dgflow.js`);
    await core.default();
    if (threads > 1) await core.initThreadPool(threads);
    const engine = await core.Engine.open('cpu');
    const run = await engine.timingModel().refine({ batch, steps, seed: 0 });
    const times = [];
    let last = performance.now();
    while ((await run.next()) !== null) {
      const now = performance.now();
      times.push(now - last);
      last = now;
    }
    // The first two calls pay for first use; the last skips the gradient (nothing follows it).
    const timed = times.slice(2, -1).sort((a, b) => a - b);
    self.postMessage({ ms: timed[Math.floor(timed.length / 2)] });
  } catch (e) {
    self.postMessage({ error: String(e?.message || e) });
  }
};
