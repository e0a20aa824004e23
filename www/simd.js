// Which CPU module a browser can run, by validating two tiny modules. Shared by the worker, which
// picks the module, and the tests, which check the pick in each browser engine they have.

// The smallest module that uses WebAssembly SIMD (i8x16.splat, i8x16.popcnt): the CPU module
// is built with SIMD, which every current browser has; an old one gets a clear message instead.
export const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]);

// The smallest module that uses relaxed SIMD (three i32x4.splat, f32x4.relaxed_madd).
export const RELAXED_SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 19, 1, 17, 0,
  65, 0, 253, 17, 65, 0, 253, 17, 65, 0, 253, 17, 253, 133, 2, 11]);

// Whether this browser runs the relaxed-SIMD modules (Chromium and Firefox do; Safari does not).
export function relaxedSimd() {
  return WebAssembly.validate(RELAXED_SIMD_PROBE);
}

// The suffix of the CPU module's folder to load: '-relaxed' where the browser runs it and this
// device measured it faster (`chosen`, see cpu-choice.js), '' (plain SIMD) otherwise.
export function cpuModuleVariant(chosen) {
  return chosen && relaxedSimd() ? '-relaxed' : '';
}
