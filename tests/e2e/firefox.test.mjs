// The page's core in a second engine: Debian's Firefox ESR (Gecko, SpiderMonkey), driven over
// WebDriver BiDi. A plain visit, the CIFAR-10 model refined to the CLI's mean logits, the
// scrubber, a shared link, the CPU module trial, and a corrupt and a missing model file. Run by
// `./build.sh test` (DIST, EXPECTED).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launchFirefox, refinesLikeTheCli, serve } from './harness.mjs';

let server, url, browser;

// Two models served broken, as a host might: a corrupt weights file and a missing one.
const BROKEN = {
  '/models/swissroll/weights.safetensors': { status: 200, body: 'not weights' },
  '/models/25gaussians/weights.safetensors': { status: 404, body: '' },
};

before(async () => {
  ({ server, url } = await serve(process.env.DIST, '', { replace: BROKEN }));
  browser = await launchFirefox();
});

after(async () => {
  await browser?.close();
  server?.close();
});

// A page at `query` (in a fresh browser context unless one is given), once its first run has ended.
async function visit(query, context = null) {
  const page = await (context ?? await browser.createBrowserContext()).newPage();
  page.on('pageerror', (e) => console.log('[page error]', e.message));
  page.on('console', (m) => console.log(`[page ${m.type()}]`, m.text()));
  await page.goto(`${url}/${query}`);
  await finished(page);
  return page;
}

// Polls `condition` in the page until it returns a truthy value, which it resolves to. Polled from
// here: a page that reloads itself (the first visit, to become cross-origin isolated) loses a wait
// installed in it, and Firefox runs no animation frames in a tab behind another.
async function until(page, condition, timeout = 180_000) {
  const end = Date.now() + timeout;
  for (;;) {
    const value = await page.evaluate(condition).catch(() => null); // mid-navigation: try again
    if (value) return value;
    if (Date.now() > end) {
      const state = await page.evaluate(() => JSON.stringify({
        url: location.href, isolated: self.crossOriginIsolated,
        controlled: Boolean(navigator.serviceWorker?.controller),
        backend: document.getElementById('backend')?.textContent,
        note: document.getElementById('note')?.textContent,
      })).catch((e) => `unreadable: ${e.message}`);
      throw new Error(`timed out after ${timeout} ms waiting for ${condition}; the page: ${state}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
// Once isolated: a first visit reloads itself, and what it showed before is gone.
const finished = (page) => until(page, () => self.crossOriginIsolated
  && (/steps in/.test(document.getElementById('note')?.textContent) || document.getElementById('error')?.hidden === false));
const text = (page, id) => page.evaluate((i) => document.getElementById(i).textContent, id);
const error = (page) => page.evaluate(() => {
  const box = document.getElementById('error');
  return box.hidden ? null : box.textContent;
});
const pixels = (page, id) => page.evaluate((i) => document.getElementById(i).toDataURL(), id);

test('Firefox: a plain visit refines the first model at once, on the CPU, then times its two CPU modules', async () => {
  const page = await visit('');
  assert.equal(await error(page), null);
  assert.match(await text(page, 'backend'), /CPU/);
  assert.match(page.url(), /model=cifar10/);
  // Firefox validates relaxed SIMD: after the first run the page times both CPU modules once.
  const choice = await until(page, () => JSON.parse(localStorage.getItem('dgflow:cpu-module')), 120_000);
  assert.ok(choice.plain > 0 && choice.relaxed > 0, JSON.stringify(choice));
  await page.browserContext().close();
});

test('Firefox: the CIFAR-10 model refines to the CLI\'s mean logits; the scrubber and a shared link show the same picture', async () => {
  const page = await visit('?model=cifar10&batch=16&steps=3&seed=0');
  assert.equal(await error(page), null);
  await refinesLikeTheCli(page, 'cifar10', 3);
  // The keys move the scrubber.
  await page.focus('#scrubber');
  await page.keyboard.press('Home');
  assert.equal(await text(page, 'step-label'), '0');
  assert.equal(await pixels(page, 'after'), await pixels(page, 'before'), 'step 0 is the base');
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('ArrowRight');
  assert.equal(await text(page, 'step-label'), '2');
  const link = page.url();
  assert.match(link, /step=2/);
  const step2 = await pixels(page, 'after');
  assert.notEqual(step2, await pixels(page, 'before'));
  // In the same context: Firefox may add per-context noise to what a canvas reads back. The
  // first tab goes behind the new one, which cancels its CPU module trial: both run the plain
  // module, and the new tab has the cores to itself.
  const shared = await visit(link.slice(url.length + 1), page.browserContext());
  assert.equal(await text(shared, 'step-label'), '2');
  assert.equal(await text(shared, 'after-logit'), await text(page, 'after-logit'));
  assert.equal(await pixels(shared, 'after'), step2, 'a shared link shows the same picture');
  await shared.close();
  await page.browserContext().close();
});

test('Firefox: a corrupt and a missing model file are each named with a way forward', async () => {
  const corrupt = await visit('?model=swissroll&batch=16&steps=2');
  assert.match(await error(corrupt), /weights\.safetensors: SHA-256 is .* the manifest expects.*reload/is);
  assert.equal(await corrupt.evaluate(() => document.getElementById('run').disabled), false, 'the page stays usable');
  await corrupt.browserContext().close();
  const missing = await visit('?model=25gaussians&batch=16&steps=2');
  assert.match(await error(missing), /weights\.safetensors: HTTP 404.*connection/s);
  await missing.browserContext().close();
});
