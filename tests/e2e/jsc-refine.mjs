// Runs a refinement on the CPU module JavaScriptCore picks, as the page's worker picks it (by the
// probes of www/simd.js), and prints JSON: which probes and modules validate, and the run's
// steps (or only their times, with --times). Used by the smoke test and the bench:
//   jsc -m tests/e2e/jsc-refine.mjs -- SITE MODEL SETTINGS_JSON [--times]
// SITE holds pkg-cpu/ and pkg-cpu-relaxed/, MODEL a bundle folder.
import { bytes } from './jsc-web.mjs';
import { runSteps } from './steps.js';
import { RELAXED_SIMD_PROBE, SIMD_PROBE, cpuModuleVariant } from '../../www/simd.js';

const [site, model, settingsJson, times] = arguments;
const result = {
  probes: { simd: WebAssembly.validate(SIMD_PROBE), relaxed: WebAssembly.validate(RELAXED_SIMD_PROBE) },
  modules: {
    'pkg-cpu': WebAssembly.validate(bytes(`${site}/pkg-cpu/dgflow_bg.wasm`)),
    'pkg-cpu-relaxed': WebAssembly.validate(bytes(`${site}/pkg-cpu-relaxed/dgflow_bg.wasm`)),
  },
};
try {
  // A device that measured relaxed SIMD faster, so the probe alone decides.
  const folder = `pkg-cpu${cpuModuleVariant(true)}`;
  const core = await import(`${site}/${folder}/dgflow.js`);
  core.initSync({ module: bytes(`${site}/${folder}/dgflow_bg.wasm`) });
  const engine = await core.Engine.open('cpu');
  const loaded = engine.loadModel('model', bytes(`${model}/manifest.json`), bytes(`${model}/weights.safetensors`), [], 0);
  const { ms, steps } = await runSteps(await loaded.refine(JSON.parse(settingsJson)), { timesOnly: times === '--times' });
  result.run = { module: folder, backend: engine.backend, ms, steps };
} catch (e) {
  result.run = { error: String(e && e.message || e) };
}
print(JSON.stringify(result));
