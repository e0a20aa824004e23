// Messages between the page (main.js) and the worker (worker.js). Every message has a `type`;
// every reply carries the `id` of the request it answers.
export const msg = {
  init: (prefer) => ({ type: 'init', prefer }),                       // prefer: auto | webgpu | cpu
  // reason: why not WebGPU, if so; defaults: the core's default settings; threads: CPU threads
  ready: (backend, reason, defaults, threads) => ({ type: 'ready', backend, reason, defaults, threads }),
  refine: (id, model, settings) => ({ type: 'refine', id, model, settings }),
  cancel: (id) => ({ type: 'cancel', id }),
  // Live training of a small 2D GAN (toy: 25gaussians | swissroll); its model is then `live-<toy>`.
  train: (id, toy, iterations, seed) => ({ type: 'train', id, toy, iterations, seed }),
  // image: the generator's samples so far, {rgba, width, height}
  trainProgress: (id, iteration, total, critic, image) => ({ type: 'train-progress', id, iteration, total, critic, image }),
  trained: (id, name, iterations, recommended) => ({ type: 'trained', id, name, iterations, recommended }),
  qr: (id, text) => ({ type: 'qr', id, text }),                       // a QR code of the share link
  qrImage: (id, image) => ({ type: 'qr-image', id, image }),          // image: {rgba, width, height}
  progress: (id, stage, done, total) => ({ type: 'progress', id, stage, done, total }),
  manifest: (id, manifest) => ({ type: 'manifest', id, manifest }),
  step: (id, step) => ({ type: 'step', id, step }),
  done: (id, ms, backend) => ({ type: 'done', id, ms, backend }),
  cancelled: (id) => ({ type: 'cancelled', id }),
  error: (id, code, message, hint) => ({ type: 'error', id, code, message, hint }),
};
