// The browser benchmark, run by `./build.sh bench` (not a test: it measures, it does not judge).
// Prints markdown: the page's transfer size, the time from navigation to the first refined grid on
// the CPU backend, and ms per refinement step in wasm (CPU on one thread and on every core, and
// WebGPU where an adapter exists) against the native CLI on the same bundle, measured in this run.
//
// Environment: DIST (the built site), SITE (bench.html, bench-page.js, the modules pkg/ and
// pkg-cpu*/, and the bundle folder IMAGE_MODEL), DGFLOW (the native CLI), OUT (a file for
// the markdown).
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import { launch, refineInJavaScriptCore, serve } from './harness.mjs';

const { DIST, SITE, DGFLOW, IMAGE_MODEL, OUT } = process.env;
const BATCH = 64;
const STEPS = 10;
const ROUNDS = 3;
const lines = [];
const say = (line = '') => { lines.push(line); console.log(line); };

function files(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

const PAGE = 'page (HTML, JS, CSS, service worker, list of models)';
const CPU = 'CPU wasm module (pkg-cpu/, one thread)';
const CPU_RELAXED = 'CPU wasm module with relaxed SIMD (pkg-cpu-relaxed/, one thread, where the browser runs it and this device timed it faster)';
const CPU_THREADS = 'CPU wasm module with threads (pkg-cpu-mt/, on cross-origin isolated pages)';
const CPU_THREADS_RELAXED = 'CPU wasm module with threads and relaxed SIMD (pkg-cpu-mt-relaxed/)';
const GPU = 'WebGPU wasm module (pkg/, fetched only with a hardware adapter)';

// The models the page offers, in its order: it opens on the first, and fetches another only
// when the visitor picks it.
const MODEL_NAMES = JSON.parse(readFileSync(join(DIST, 'models', 'index.json'), 'utf8')).models;
const modelGroup = (name) => `model \`${name}\` (manifest and weights${name === MODEL_NAMES[0] ? '; the page opens on it' : ', fetched when picked'})`;

// Raw and gzipped bytes of each group of files, in the order of the table, and of the whole site.
function transferSizes() {
  const sizes = new Map(files(DIST).map((path) => {
    const bytes = readFileSync(path);
    return [relative(DIST, path), [bytes.length, gzipSync(bytes, { level: 9 }).length]];
  }));
  const groups = new Map([PAGE, ...MODEL_NAMES.map(modelGroup), GPU, CPU, CPU_THREADS, CPU_THREADS_RELAXED, CPU_RELAXED].map((g) => [g, [0, 0]]));
  const add = (group, [raw, gz]) => {
    const [r, g] = groups.get(group);
    groups.set(group, [r + raw, g + gz]);
  };
  for (const [rel, size] of sizes) {
    const model = /^models\/([^/]+)\//.exec(rel)?.[1];
    add(model ? modelGroup(model)
      : rel.startsWith('pkg-cpu/') ? CPU
        : rel.startsWith('pkg-cpu-relaxed/') ? CPU_RELAXED
          : rel.startsWith('pkg-cpu-mt/') ? CPU_THREADS
            : rel.startsWith('pkg-cpu-mt-relaxed/') ? CPU_THREADS_RELAXED
              : rel.startsWith('pkg/') ? GPU
                : PAGE, size);
  }
  // Weights a model borrows from another model's folder come with it too.
  for (const name of MODEL_NAMES) {
    const manifest = JSON.parse(readFileSync(join(DIST, 'models', name, 'manifest.json'), 'utf8'));
    for (const { file } of manifest.shared_weights ?? []) {
      const rel = join('models', name, file);
      if (rel.startsWith(`models/${name}/`)) continue;
      if (!sizes.has(rel)) throw new Error(`models/${name}/manifest.json borrows ${file}, which the site lacks`);
      add(modelGroup(name), sizes.get(rel));
    }
  }
  const everything = [...sizes.values()].reduce((sum, [, gz]) => sum + gz, 0);
  return { groups, everything };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const mb = (n) => `${(n / 1e6).toFixed(2)} MB`;

const browser = await launch();
try {
  say('## In the browser (headless Chromium on this machine)');
  say();
  const { groups: sizes, everything } = transferSizes();
  say('| what | raw | gzip -9 |\n|---|---|---|');
  for (const [group, [raw, gz]] of sizes) say(`| ${group} | ${mb(raw)} | ${mb(gz)} |`);
  // A first visit loads the page, the model it opens on and one wasm module (a CPU module runs
  // plain SIMD until this device has timed the relaxed build: www/cpu-choice.js), plus a CPU one
  // where a GPU fails or a 2D GAN is trained. Each model the visitor picks next adds its row.
  const gz = (group) => sizes.get(group)?.[1] ?? 0;
  const base = gz(PAGE) + gz(modelGroup(MODEL_NAMES[0]));
  const cpuMost = Math.max(gz(CPU), gz(CPU_THREADS));
  say(`| **a first visit on the CPU downloads** (threads / one thread: no service worker, or in an iframe) | | **${mb(base + gz(CPU_THREADS))} / ${mb(base + gz(CPU))}** |`);
  say(`| then, after its first run, the relaxed-SIMD build it times against the plain one (Chromium, Firefox; once per browser version) | | ${mb(gz(CPU_THREADS_RELAXED))} / ${mb(gz(CPU_RELAXED))} |`);
  say(`| a first visit on WebGPU downloads (with a CPU module too: at most) | | ${mb(base + gz(GPU))} (${mb(base + gz(GPU) + cpuMost)}) |`);
  say(`| every file of the site | | ${mb(everything)} |`);
  say();

  // Navigation to the first refined grid, cold (a fresh profile: nothing cached), CPU backend.
  const { server: distServer, url: distUrl } = await serve(DIST);
  const timings = [];
  let threadsShown = '1';
  for (let run = 0; run < 3; run++) {
    const context = await browser.newContext();
    const page = await context.newPage();
    // From the navigation, on the wall clock: a first visit reloads once to become isolated, and
    // each load restarts the page's own performance clock.
    const navigated = Date.now();
    await page.goto(`${distUrl}/?model=${encodeURIComponent(process.env.PAGE_MODEL)}&batch=${BATCH}&steps=${STEPS}&seed=0`);
    await page.waitForFunction(() => performance.getEntriesByName('dgflow:step-1-shown').length > 0, null, { timeout: 300_000 });
    const marks = await page.evaluate(() => Object.fromEntries(
      ['dgflow:model-ready', 'dgflow:step-0-shown', 'dgflow:step-1-shown'].map((n) => [n, performance.timeOrigin + performance.getEntriesByName(n)[0].startTime])));
    timings.push(Object.fromEntries(Object.entries(marks).map(([n, at]) => [n, at - navigated])));
    threadsShown = /\((\d+) threads\)/.exec(await page.textContent('#backend'))?.[1] ?? '1';
    await context.close();
  }
  distServer.close();
  const t = (key) => median(timings.map((x) => x[key]));
  say(`Time from navigation (cold, nothing cached: a first visit, which reloads once to become cross-origin isolated) with \`${process.env.PAGE_MODEL}\`, ${BATCH} samples, CPU backend on ${threadsShown} thread(s) (median of 3):`);
  say(`model loaded ${t('dgflow:model-ready').toFixed(0)} ms, base grid shown ${t('dgflow:step-0-shown').toFixed(0)} ms, ` +
      `**first refined grid ${t('dgflow:step-1-shown').toFixed(0)} ms** ` +
      `(${(t('dgflow:step-1-shown') - t('dgflow:model-ready')).toFixed(0)} ms after the model loaded).`);
  say();

  // The phone path as a poster visitor meets it: a plain visit (the page's own model and
  // settings) on a phone-sized touch screen, the CPU throttled 4× (a mid-range phone), every file
  // over a 4G-like connection: DevTools' "Fast 4G" profile, 9 Mbit/s down at 60 ms per request
  // (the server sends each response at that rate after that delay). From the navigation to the
  // first refined grid, and to the run's last step.
  const PHONE = { latencyMs: 60, bytesPerSecond: 9e6 / 8 };
  const { server: phoneServer, url: phoneUrl } = await serve(DIST, '', { throttle: PHONE });
  const phone = [];
  for (let run = 0; run < 2; run++) {
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send('Emulation.setCPUThrottlingRate', { rate: 4 });
    const navigated = Date.now();
    await page.goto(`${phoneUrl}/`, { timeout: 300_000 });
    await page.waitForFunction(() => performance.getEntriesByName('dgflow:step-1-shown').length > 0, null, { timeout: 600_000 });
    const firstRefined = await page.evaluate(() => performance.timeOrigin + performance.getEntriesByName('dgflow:step-1-shown')[0].startTime);
    await page.waitForFunction(() => /steps in/.test(document.getElementById('note').textContent) || !document.getElementById('error').hidden, null, { timeout: 900_000 });
    const finished = Date.now();
    const shown = new URL(page.url()).searchParams;
    phone.push({ first: firstRefined - navigated, last: finished - navigated, model: shown.get('model'), batch: shown.get('batch'), steps: shown.get('steps') });
    await context.close();
  }
  phoneServer.close();
  const p = (key) => median(phone.map((x) => x[key]));
  say(`A plain visit on an emulated phone (390×844 touch screen, CPU throttled 4×, every file at 9 Mbit/s after 60 ms: DevTools' "Fast 4G"), cold, ` +
      `\`${phone[0].model}\`, ${phone[0].batch} samples, ${phone[0].steps} steps (the page's defaults; median of ${phone.length}): ` +
      `**first refined grid ${(p('first') / 1000).toFixed(1)} s** after navigation, the last step ${(p('last') / 1000).toFixed(1)} s.`);
  say();

  // ms per step: wasm on each backend against the native CLI, same bundle, batch and seed.
  const { server, url } = await serve(SITE, '', { isolated: true });
  const name = IMAGE_MODEL.split('/').pop();
  const measure = async (backend) => {
    const page = await browser.newPage();
    await page.goto(`${url}/bench.html?model=${name}&backend=${backend}&batch=${BATCH}&steps=${STEPS + 1}`);
    await page.waitForFunction(() => window.benchResults !== undefined, null, { timeout: 540_000 });
    const result = await page.evaluate(() => window.benchResults);
    await page.close();
    if (result.error) return { error: result.error };
    // Step 0 evaluates the start; step 1 compiles (WebGPU) or warms up: time the rest.
    return { backend: result.backend, threads: result.threads, ms: median(result.ms.slice(2)) };
  };
  const adapter = await (async () => {
    const page = await browser.newPage();
    await page.goto(`${url}/bench.html?model=none&backend=none`);
    const info = await page.evaluate(async () => {
      const a = navigator.gpu && await navigator.gpu.requestAdapter();
      if (!a) return null;
      // Chromium reports the fallback flag on adapter.info now (adapter.isFallbackAdapter is
      // deprecated); SwiftShader is a CPU renderer whichever way it is flagged.
      const software = a.info?.isFallbackAdapter ?? a.isFallbackAdapter ?? false;
      const name = `${a.info?.vendor || ''} ${a.info?.architecture || ''}`.trim();
      return software || /swiftshader/i.test(name) ? `${name} (software fallback)` : name;
    });
    await page.close();
    return info;
  })();
  // The native CLI on every core (what a user of the CLI gets) and on one (beside the browser's
  // one-thread modules: the cost of wasm itself); on an AVX-512 CPU also with the AVX2 kernels,
  // as most laptops and desktops run them (wasm SIMD is four lanes and, plain, has no fused
  // multiply-add: the wider the native vectors, the further behind the browser).
  const native = (threads, kernels) => {
    const env = { ...process.env, RAYON_NUM_THREADS: String(threads), ...(kernels ? { DGFLOW_CPU_KERNELS: kernels } : {}) };
    const row = execFileSync(DGFLOW, ['bench', '--models', IMAGE_MODEL, '--batches', String(BATCH), '--steps', String(STEPS),
      '--repeats', '3', '--train-width', '0'], { encoding: 'utf8', env })
      .split('\n').find((l) => l.startsWith(`| `) && l.includes(` | ${BATCH} | `));
    return Number(row.split('|')[3]);
  };
  const avx512 = / avx512f /.test(readFileSync('/proc/cpuinfo', 'utf8'));
  // Safari's engine, on the module the page gives Safari (JavaScriptCore's shell runs it alone,
  // one thread: the shell has no workers).
  const javascriptCore = () => {
    try {
      const settings = { method: 'dgflow-kl', batch: BATCH, steps: STEPS + 1, seed: 0 };
      const { run } = refineInJavaScriptCore(SITE, IMAGE_MODEL, settings, { timesOnly: true });
      return run.error ? { error: run.error } : { module: run.module, ms: median(run.ms.slice(2)) };
    } catch (e) {
      return { error: String(e.message || e).split('\n')[0] };
    }
  };
  const jscVersion = (() => {
    try {
      return execFileSync('dpkg-query', ['-W', '-f', '${Version}', 'libjavascriptcoregtk-4.0-bin'], { encoding: 'utf8' }).split('-')[0];
    } catch {
      return 'unknown version';
    }
  })();
  const cores = Number(execFileSync('nproc', { encoding: 'utf8' }).trim());
  // Every CPU row in each of three rounds, reported as the median round: a shared machine's
  // slow spell then hits every row alike instead of one (it moved one row by 40 % otherwise).
  const rounds = { native: [], nativeOne: [], avx2: [], avx2One: [], cpu: [], 'cpu-relaxed': [], threads: [], 'threads-relaxed': [], jsc: [] };
  for (let round = 0; round < ROUNDS; round++) {
    rounds.native.push({ ms: native(cores) });
    rounds.nativeOne.push({ ms: native(1) });
    if (avx512) {
      rounds.avx2.push({ ms: native(cores, 'avx2') });
      rounds.avx2One.push({ ms: native(1, 'avx2') });
    }
    for (const backend of ['cpu', 'cpu-relaxed', 'threads', 'threads-relaxed']) rounds[backend].push(await measure(backend));
    rounds.jsc.push(javascriptCore());
  }
  const medianRound = (runs) => runs.find((r) => r.error) ?? { ...runs[0], ms: median(runs.map((r) => r.ms)) };
  const nativeMs = medianRound(rounds.native).ms;
  const nativeOneMs = medianRound(rounds.nativeOne).ms;
  const avx2Ms = avx512 ? medianRound(rounds.avx2).ms : null;
  const avx2OneMs = avx512 ? medianRound(rounds.avx2One).ms : null;
  const [cpu, cpuRelaxed, threads, threadsRelaxed, jsc] = ['cpu', 'cpu-relaxed', 'threads', 'threads-relaxed', 'jsc'].map((b) => medianRound(rounds[b]));
  const gpu = adapter ? await measure('webgpu') : { error: 'no WebGPU adapter in this browser' };
  server.close();
  say(`ms per DGflow-KL step, \`${name}\` (${IMAGE_MODEL.includes('init') ? 'untrained weights: speed does not depend on them' : 'the bundled model'}), ${BATCH} samples; each CPU row is the median of ${ROUNDS} rounds, each round timing every CPU row once (wasm: median of ${STEPS - 1} steps; native: \`dgflow bench\`'s median of 3 runs), WebGPU one run:`);
  say();
  const avx2Column = avx512 ? ' vs native with AVX2 kernels on as many threads |' : '';
  say(`| backend | ms/step | vs native CPU (${cores} threads) | vs native CPU on as many threads |${avx2Column}\n|---|---|---|---|${avx512 ? '---|' : ''}`);
  const blank = avx512 ? ' |' : '';
  say(`| native CLI, CPU (burn flex with our convolution kernels${avx512 ? ', AVX-512 here' : ''}, ${cores} threads) | ${nativeMs.toFixed(1)} | 1× | |${blank}`);
  say(`| native CLI, CPU (1 thread) | ${nativeOneMs.toFixed(1)} | ${(nativeOneMs / nativeMs).toFixed(1)}× | |${blank}`);
  if (avx512) {
    say(`| native CLI, CPU, convolution kernels limited to AVX2 + FMA (\`DGFLOW_CPU_KERNELS=avx2\`, ${cores} threads) | ${avx2Ms.toFixed(1)} | ${(avx2Ms / nativeMs).toFixed(1)}× | | 1× |`);
    say(`| native CLI, CPU, AVX2 kernels (1 thread) | ${avx2OneMs.toFixed(1)} | ${(avx2OneMs / nativeMs).toFixed(1)}× | | |`);
  }
  const wasmRow = (label, run, sameThreadsMs, sameThreadsAvx2Ms) => say(run.error ? `| ${label} | failed: ${run.error} | | |${blank}`
    : `| ${label} | ${run.ms.toFixed(1)} | ${(run.ms / nativeMs).toFixed(1)}× slower | ${(run.ms / sameThreadsMs).toFixed(1)}× slower |`
      + (avx512 ? ` ${(run.ms / sameThreadsAvx2Ms).toFixed(1)}× slower |` : ''));
  wasmRow('wasm, CPU (1 thread, SIMD: every browser)', cpu, nativeOneMs, avx2OneMs);
  wasmRow('wasm, CPU (1 thread, relaxed SIMD: Chromium, Firefox)', cpuRelaxed, nativeOneMs, avx2OneMs);
  wasmRow(`wasm, CPU (${threads.threads ?? cores} threads, SIMD; cross-origin isolated page)`, threads, nativeMs, avx2Ms);
  wasmRow(`wasm, CPU (${threadsRelaxed.threads ?? cores} threads, relaxed SIMD; cross-origin isolated page)`, threadsRelaxed, nativeMs, avx2Ms);
  wasmRow(`wasm in JavaScriptCore, Safari's engine (the \`jsc\` shell of WebKitGTK ${jscVersion}, this x86 machine), CPU (1 thread, ${jsc.module ?? 'pkg-cpu'}: the module the page gives Safari)`, jsc, nativeOneMs, avx2OneMs);
  say(gpu.error ? `| wasm, WebGPU | ${gpu.error} | | |${blank}`
    : `| wasm, WebGPU on ${adapter} | ${gpu.ms.toFixed(1)} | ${(gpu.ms / nativeMs).toFixed(1)}× ${adapter.includes('software') ? '(a CPU emulating a GPU: says nothing about real GPUs)' : ''} | |${blank}`);
} finally {
  await browser.close();
}
if (OUT) writeFileSync(OUT, lines.join('\n') + '\n');
