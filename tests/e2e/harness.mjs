// Shared by the browser tests: a static server on 127.0.0.1 and Debian's headless Chromium with
// its software WebGPU adapter enabled.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm', '.json': 'application/json' };

// The headers that make a page cross-origin isolated (wasm threads need it), as a host that can
// set headers sends them; the page's service worker adds them where the host cannot.
const ISOLATION = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' };

// Serves `root` under `prefix` (e.g. '/project/demo'), as a static host would a sub-path;
// `isolated` adds the cross-origin isolation headers; `throttle` ({latencyMs, bytesPerSecond})
// answers each request after its latency and sends its body at that rate, as a slow connection
// would — every request, the page's, its workers' and its service worker's alike. `replace` maps
// a path under the prefix to the {status, body} to answer instead of its file (a broken host, for
// browsers whose driver cannot intercept requests); `cors` lets pages of other origins read it,
// as a host of a bundle for `?bundle=` must.
export async function serve(root, prefix = '', { isolated = false, throttle = null, replace = {}, cors = false } = {}) {
  const server = createServer(async (req, res) => {
    if (throttle) await new Promise((resolve) => setTimeout(resolve, throttle.latencyMs));
    const pathname = new URL(req.url, 'http://x').pathname;
    if (!pathname.startsWith(`${prefix}/`)) {
      res.writeHead(404);
      res.end();
      return;
    }
    const path = normalize(decodeURIComponent(pathname.slice(prefix.length))).replace(/^(\.\.[/\\])+/, '');
    if (replace[path]) {
      res.writeHead(replace[path].status);
      res.end(replace[path].body);
      return;
    }
    try {
      const body = readFileSync(join(root, path.endsWith('/') ? `${path}index.html` : path));
      res.writeHead(200, {
        'content-type': TYPES[extname(path) || '.html'] || 'application/octet-stream',
        ...(isolated ? ISOLATION : {}),
        ...(cors ? { 'access-control-allow-origin': '*' } : {}),
      });
      if (!throttle) {
        res.end(body);
        return;
      }
      // 50 ms worth of bytes at a time.
      const chunk = Math.max(1, Math.round(throttle.bytesPerSecond / 20));
      for (let at = 0; at < body.length; at += chunk) {
        res.write(body.subarray(at, at + chunk));
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      res.end();
    } catch {
      res.writeHead(404, cors ? { 'access-control-allow-origin': '*' } : {});
      res.end();
    }
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  return { server, url: `http://127.0.0.1:${server.address().port}${prefix}` };
}

// A context setup that serves the untrained tiny bundles `names` of FIXTURES (written by
// build.sh) as if they were bundled, listed after the bundled ones. Routing sees only what no
// service worker answers: contexts that use it block the page's.
export function servingFixtures(...names) {
  return async (context) => {
    await context.route('**/models/index.json', async (route) => {
      const bundled = await (await route.fetch()).json();
      await route.fulfill({ json: { models: [...bundled.models, ...names] } });
    });
    await context.route(new RegExp(`/models/(${names.join('|')})/[^/]+$`), (route) => {
      const path = new URL(route.request().url()).pathname.split('/models/')[1];
      route.fulfill({ body: readFileSync(join(process.env.FIXTURES, path)) });
    });
  };
}

export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--enable-unsafe-webgpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
}

// Debian's Firefox ESR, headless, driven over WebDriver BiDi by Puppeteer (Playwright drives
// only its own patched Firefox builds).
export async function launchFirefox() {
  const { default: puppeteer } = await import('puppeteer-core');
  return puppeteer.launch({
    browser: 'firefox',
    executablePath: process.env.FIREFOX || '/usr/bin/firefox-esr',
    headless: true,
  });
}

// Refines `model` (a bundle folder) with `settings` in JavaScriptCore's shell, on the CPU module
// of `site` that the page would pick there, and returns what jsc-refine.mjs reports (see there).
export function refineInJavaScriptCore(site, model, settings, { timesOnly = false } = {}) {
  const script = fileURLToPath(new URL('./jsc-refine.mjs', import.meta.url));
  const args = ['-m', script, '--', site, model, JSON.stringify(settings), ...(timesOnly ? ['--times'] : [])];
  const output = execFileSync(process.env.JSC || 'jsc', args, { encoding: 'utf8', maxBuffer: 1 << 26 });
  return JSON.parse(output.trim().split('\n').pop());
}

// The mean logit per step the native CLI gives for the same model and settings (build.sh wrote
// its trajectory to $EXPECTED).
function nativeMeans(name) {
  const trajectory = JSON.parse(readFileSync(join(process.env.EXPECTED, `${name}.json`), 'utf8'));
  return trajectory.steps.map(({ logits }) => logits.reduce((a, b) => a + b, 0) / logits.length);
}

// The page's mean logit at each step, as its caption shows it (three decimals), scrubbing there;
// `page` is Playwright's or Puppeteer's.
async function pageMeans(page, steps) {
  const means = [];
  for (let step = 0; step <= steps; step++) {
    const caption = await page.evaluate((at) => {
      const scrubber = document.getElementById('scrubber');
      scrubber.value = String(at);
      scrubber.dispatchEvent(new Event('input'));
      return document.getElementById('after-logit').textContent;
    }, step);
    means.push(Number(/mean logit (-?\d+\.\d+)/.exec(caption)[1]));
  }
  return means;
}

// The page refines as the CLI does: every step's mean logit within its three printed decimals
// (and wasm's rounding, about 1e-5 of it, of the native kernels').
export async function refinesLikeTheCli(page, name, steps) {
  const [shown, native] = [await pageMeans(page, steps), nativeMeans(name)];
  assert.equal(native.length, steps + 1);
  shown.forEach((mean, step) => assert.ok(Math.abs(mean - native[step]) <= 6e-4 + 1e-4 * Math.abs(native[step]),
    `${name} step ${step}: the page shows ${mean}, the CLI gives ${native[step]}`));
}
