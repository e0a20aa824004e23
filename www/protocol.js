// Messages between the page (main.js) and the worker (worker.js). Every message has a `type`;
// every reply carries the `id` of the request it answers.
export const msg = {
  // prefer: auto | webgpu | cpu; relaxed: whether this device measured the relaxed-SIMD CPU
  // module faster (cpu-choice.js), which the worker then loads where the browser runs it
  init: (prefer, relaxed) => ({ type: 'init', prefer, relaxed }),
  // reason: why not WebGPU, if so; defaults: the paper's settings and limits: what the form
  // accepts, both from the core; threads: CPU threads
  ready: (backend, reason, defaults, limits, threads) => ({ type: 'ready', backend, reason, defaults, limits, threads }),
  // A bundled model's manifest and the settings a run of it starts from, as the core reads them.
  describe: (id, model) => ({ type: 'describe', id, model }),
  described: (id, model, manifest, defaults) => ({ type: 'described', id, model, manifest, defaults }),
  // A bundle the visitor brings: `files` (File objects: manifest.json and its weights, or a .zip)
  // or `url` (its folder, manifest.json or .zip); answered by `opened` with the name the model
  // now has (`yours:<name>`), its manifest and defaults, and where it came from ('files' | 'url').
  open: (id, { files, url }) => ({ type: 'open', id, files, url }),
  opened: (id, model, manifest, defaults, source) => ({ type: 'opened', id, model, manifest, defaults, source }),
  // showRejected: whether a DRS plot greys the samples it rejected (or leaves them out)
  refine: (id, model, settings, showRejected) => ({ type: 'refine', id, model, settings, showRejected }),
  // "Reject or refine": the flow of `settings`, DRS and MH-GAN at `budget` critic evaluations per
  // sample; answered by `contenders` (each run's method and stride, and the view's steps), then
  // steps that name their run.
  compare: (id, model, settings, budget, showRejected) => ({ type: 'compare', id, model, settings, budget, showRejected }),
  contenders: (id, runs, total) => ({ type: 'contenders', id, runs, total }),
  cancel: (id) => ({ type: 'cancel', id }),
  // Live training of a small 2D GAN (toy: 25gaussians | swissroll); its model is then `live-<toy>`.
  train: (id, toy, iterations, seed) => ({ type: 'train', id, toy, iterations, seed }),
  // image: the generator's samples so far, {rgba, width, height}
  trainProgress: (id, iteration, total, critic, image) => ({ type: 'train-progress', id, iteration, total, critic, image }),
  // defaults: the settings a run of the trained model starts from
  trained: (id, name, iterations, defaults) => ({ type: 'trained', id, name, iterations, defaults }),
  qr: (id, text) => ({ type: 'qr', id, text }),                       // a QR code of the share link
  qrImage: (id, image) => ({ type: 'qr-image', id, image }),          // image: {rgba, width, height}
  progress: (id, stage, done, total) => ({ type: 'progress', id, stage, done, total }),
  manifest: (id, manifest) => ({ type: 'manifest', id, manifest }),
  step: (id, step, run) => ({ type: 'step', id, step, run }),
  done: (id, ms, backend) => ({ type: 'done', id, ms, backend }),
  cancelled: (id) => ({ type: 'cancelled', id }),
  // code: fetch | model | bundle | settings | refine | train | qr | init | simd, each with its own hint
  error: (id, code, message, hint) => ({ type: 'error', id, code, message, hint }),
};
