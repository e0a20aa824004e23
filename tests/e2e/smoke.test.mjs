// The wasm build, refined in headless Chromium on the CPU backend and on WebGPU (SwiftShader),
// and in JavaScriptCore, compared with the native CLI on the same seeds. Run by `./build.sh test`,
// which prepares SITE (the modules, the bundles, smoke.html/js) and NATIVE (cases.json, and each
// case's trajectory from the CLI): a tiny DCGAN by every method and in data space, and the
// CIFAR-10 architecture, whose wide layers the browser's modules run in Winograd tiles.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { launch, refineInJavaScriptCore, serve } from './harness.mjs';

const site = process.env.SITE;
const cases = JSON.parse(readFileSync(join(process.env.NATIVE, 'cases.json'), 'utf8')).map((c) => {
  const trajectory = JSON.parse(readFileSync(join(process.env.NATIVE, `${c.name}.json`), 'utf8'));
  return { ...c, settings: trajectory.config, native: trajectory.steps };
});

// The tolerances README states: native and wasm CPU differ only in f32 summation order (and,
// in the relaxed-SIMD modules, where the browser fuses a multiply-add); WebGPU kernels reorder
// more.
const TOLERANCE = { cpu: 1e-4, 'cpu-relaxed': 1e-4, threads: 1e-4, 'threads-relaxed': 1e-4, webgpu: 1e-3, jsc: 1e-4 };

let server, browser, results;

before(async () => {
  let url;
  ({ server, url } = await serve(site, '', { isolated: true }));
  browser = await launch();
  const page = await browser.newPage();
  page.on('console', (m) => console.log('[page]', m.text()));
  page.on('pageerror', (e) => console.log('[page error]', e.message));
  const asked = cases.map(({ name, model, settings }) => ({ name, model, settings }));
  await page.goto(`${url}/smoke.html?cases=${encodeURIComponent(JSON.stringify(asked))}`);
  await page.waitForFunction(() => window.smokeResults !== undefined, null, { timeout: 540_000 });
  results = await page.evaluate(() => window.smokeResults);
});

after(async () => {
  await browser?.close();
  server?.close();
});

function compare(backend) {
  assert.ok(!results.fatal, `page failed: ${results.fatal}`);
  assert.ok(!results[backend].error, `${backend} failed in the browser: ${results[backend].error}`);
  for (const { name, native } of cases) {
    const run = results[backend].cases[name];
    assert.ok(!run.error, `${backend} failed on ${name}: ${run.error}`);
    assert.equal(run.steps.length, native.length, `${name}: the same number of steps`);
    let worst = 0;
    for (const [i, step] of run.steps.entries()) {
      const reference = native[i];
      for (const key of ['logits', 'samples']) {
        reference[key].forEach((want, j) => {
          const diff = Math.abs(step[key][j] - want) / (1 + Math.abs(want));
          worst = Math.max(worst, diff);
          assert.ok(diff <= TOLERANCE[backend], `${backend} ${name} step ${i} ${key}[${j}]: ${step[key][j]} vs native ${want}`);
        });
      }
      assert.ok(step.gridPixels > 0, 'image steps come with an RGBA grid');
    }
    console.log(`${backend} ${name}: ${run.steps.length} steps in ${run.ms.toFixed(0)} ms, max relative difference from native ${worst.toExponential(2)}`);
  }
}

test('wasm on the CPU backend matches the native CLI', () => compare('cpu'));

test('wasm on the CPU backend with relaxed SIMD matches the native CLI', () => compare('cpu-relaxed'));

test('wasm on the CPU backend with two threads matches the native CLI', () => {
  assert.ok(results.isolated, 'the smoke page is not cross-origin isolated: the threaded module cannot run');
  compare('threads');
});

test('wasm on the CPU backend with two threads and relaxed SIMD matches the native CLI', () => {
  assert.ok(results.isolated, 'the smoke page is not cross-origin isolated: the threaded module cannot run');
  compare('threads-relaxed');
});

test('wasm on WebGPU matches the native CLI', () => {
  assert.ok(results.adapter, 'NO WEBGPU ADAPTER in headless Chromium: the GPU path was NOT tested (is --enable-unsafe-webgpu honoured?)');
  compare('webgpu');
});

// Safari is the one major browser without relaxed SIMD: the page gives it the plain-SIMD module,
// which nothing else here runs. JavaScriptCore's shell is Safari's engine without Safari.
test('wasm in JavaScriptCore (Safari\'s engine) runs the module the page picks there and matches the native CLI', () => {
  results.jsc = { cases: {} };
  for (const { name, model, settings } of cases) {
    const jsc = refineInJavaScriptCore(site, `${site}/${model}`, settings);
    assert.ok(jsc.probes.simd, 'JavaScriptCore rejects the SIMD probe: the page would refuse to run');
    assert.ok(jsc.modules['pkg-cpu'], 'JavaScriptCore rejects the plain-SIMD module (an instruction Safari lacks?)');
    assert.equal(jsc.modules['pkg-cpu-relaxed'], jsc.probes.relaxed, 'the relaxed-SIMD probe must validate exactly where the relaxed module does');
    assert.ok(!jsc.run.error, `the refinement of ${name} failed in JavaScriptCore: ${jsc.run.error}`);
    results.jsc.cases[name] = { ...jsc.run, ms: jsc.run.ms.reduce((a, b) => a + b, 0) };
    if (name === cases[0].name) console.log(`JavaScriptCore ran ${jsc.run.module} (relaxed SIMD ${jsc.probes.relaxed ? 'validates' : 'does not validate'} there)`);
  }
  compare('jsc');
});
