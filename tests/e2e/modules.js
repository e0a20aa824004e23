// The wasm modules the page's worker chooses between, by name: the CPU module on one thread and
// with threads (which needs a cross-origin isolated page), each also built with relaxed SIMD,
// and the WebGPU module. Shared by the smoke test's page and the bench's worker.
export const MODULES = {
  cpu: './pkg-cpu/dgflow.js',
  'cpu-relaxed': './pkg-cpu-relaxed/dgflow.js',
  threads: './pkg-cpu-mt/dgflow.js',
  'threads-relaxed': './pkg-cpu-mt-relaxed/dgflow.js',
  webgpu: './pkg/dgflow.js',
};
