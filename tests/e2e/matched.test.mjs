// "Reject or refine": DGflow, DRS and MH-GAN on the same starting samples at one budget, as a
// visitor opens, scrubs, shares and misconfigures it, on images, points and text, on the CPU and
// on WebGPU. Run by `./build.sh test` (DIST, FIXTURES).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, serve, servingFixtures } from './harness.mjs';

let server, url, browser;

before(async () => {
  ({ server, url } = await serve(process.env.DIST));
  browser = await launch();
});

after(async () => {
  await browser?.close();
  server?.close();
});

// The untrained tiny text bundle of FIXTURES, served as if it were bundled.
const withText = servingFixtures('tiny-text');

// The note after a run, or an error shown.
const ended = (page) => page.waitForFunction(
  () => /steps( .*)? in |Stopped at step/.test(document.getElementById('note').textContent) || !document.getElementById('error').hidden,
  null, { timeout: 180_000 });

// A page at `query` (no service worker), once its first run has ended without an error.
async function opened(query, setup) {
  const context = await browser.newContext({ serviceWorkers: 'block' });
  if (setup) await setup(context);
  const page = await context.newPage();
  page.on('pageerror', (e) => console.log('[page error]', e.message));
  await page.goto(`${url}/${query}`);
  await ended(page);
  assert.equal(await page.isHidden('#error'), true, await page.textContent('#error'));
  return page;
}

// Clicks `selector` (a button that starts a run) and waits for the run to end without an error.
async function clicked(page, selector) {
  await page.evaluate(() => { document.getElementById('note').textContent = ''; });
  await page.click(selector);
  await ended(page);
  assert.equal(await page.isHidden('#error'), true, await page.textContent('#error'));
}
const refine = (page) => clicked(page, '#run');

// Each panel's caption and picture (a data URL, or its sentences).
const panels = (page) => page.$$eval('#matched figure', (figures) => figures.map((f) => {
  const canvas = f.querySelector('canvas:not(.verdict)');
  return {
    caption: f.querySelector('figcaption').textContent,
    picture: canvas.hasAttribute('width') ? canvas.toDataURL() : [...f.querySelectorAll('li')].map((li) => li.textContent).join('\n'),
    verdict: f.querySelector('canvas.verdict').width,
  };
}));

async function scrubTo(page, k) {
  await page.fill('#scrubber', String(k));
  await page.dispatchEvent('#scrubber', 'input');
}

test('images: the same start, each method where it has spent the same, and the link keeps the view', async () => {
  // Budget 9: 4 DGflow steps, 8 more proposals per sample for DRS and MH-GAN.
  const page = await opened('?model=cifar10&batch=16&seed=5&view=matched&budget=9');
  assert.match(await page.textContent('#note'), /^4 steps of DGflow \(KL\), 8 steps of DRS \(rejects instead\), 8 steps of MH-GAN \(rejects instead\) in /);
  assert.equal(await page.getAttribute('#scrubber', 'max'), '4');
  assert.equal(await page.getAttribute('#matched-button', 'aria-pressed'), 'true');
  assert.equal(await page.isHidden('#compare'), true, 'the before-and-after view steps aside');
  let [start, flow, drs, mh] = await panels(page);
  assert.match(start.caption, /^Start: the same 16 samples for all/);
  // DGflow's 4 steps: 5 logits and 4 gradients per sample, as in the single view.
  assert.match(flow.caption, /^DGflow \(KL\) · step 4 · mean logit -?[\d.]+ · 9 evaluations per sample$/);
  const [, accepted, burnt] = drs.caption.match(/^DRS \(rejects instead\) · (\d+) of 16 accepted, (\d+) proposals burnt/) ?? [];
  // Burnt: the burn-in batch (256) and every proposal not delivered.
  assert.ok(Number(accepted) >= 1, drs.caption);
  assert.ok(Number(burnt) >= 256 && Number(burnt) <= 256 + 16 * 9 - Number(accepted), drs.caption);
  assert.match(mh.caption, /^MH-GAN \(rejects instead\) · \d+ of 128 proposals accepted · mean logit -?[\d.]+ · 9 evaluations per sample$/);
  for (const p of [start, flow, drs, mh]) assert.ok(p.verdict > 0, `a histogram under ${p.caption}`);
  assert.notEqual(flow.picture, start.picture, 'DGflow moved the samples');
  assert.notEqual(mh.picture, start.picture, 'MH-GAN replaced some samples');

  // Scrubbed to the start, every method shows the starting samples.
  await scrubTo(page, 0);
  [start, flow, drs, mh] = await panels(page);
  assert.deepEqual([flow.picture, drs.picture, mh.picture], [start.picture, start.picture, start.picture]);
  await scrubTo(page, 2);
  [, flow, , mh] = await panels(page);
  assert.match(flow.caption, /· step 2 ·/);
  assert.match(mh.caption, / of 64 proposals accepted/);
  assert.match(await page.textContent('#matched-legend'), /2 steps of DGflow \(KL\), 4 more proposals per sample for DRS and MH-GAN/);

  // The link reproduces the view, down to the step shown.
  assert.match(page.url(), /view=matched&budget=9&step=2/);
  const shared = await opened(new URL(page.url()).search);
  assert.deepEqual(await panels(shared), await panels(page));
  await shared.context().close();

  // Back to before and after.
  await clicked(page, '#matched-button');
  assert.equal(await page.isHidden('#matched-view'), true);
  assert.equal(await page.isVisible('#compare'), true);
  assert.doesNotMatch(page.url(), /view=matched/);
  await page.context().close();
});

test('what DRS has not accepted is left out, or greyed on request; a plot is redrawn by the core', async () => {
  for (const [model, budget] of [['cifar10', 5], ['swissroll', 5]]) {
    const page = await opened(`?model=${model}&batch=64&seed=3&view=matched&budget=${budget}`);
    const drsCaption = (await panels(page))[2].caption;
    const accepted = Number(drsCaption.match(/(\d+) of 64 accepted/)?.[1]);
    assert.ok(accepted < 64, `some proposals are still rejected: ${drsCaption}`);
    const hidden = (await panels(page))[2].picture;
    await page.evaluate(() => { document.getElementById('note').textContent = ''; });
    await page.check('#show-rejected');
    // A plot is drawn by the core: its runs are made again.
    if (model === 'swissroll') await ended(page);
    const greyed = (await panels(page))[2];
    assert.notEqual(greyed.picture, hidden, `${model}: the rejected proposals appear, greyed`);
    assert.equal(greyed.caption, drsCaption, `${model}: the same run`);
    await page.context().close();
  }
});

test('text: every method\'s sentences, the rejected ones left out', async () => {
  const page = await opened('?model=tiny-text&batch=8&seed=2&view=matched&budget=5', withText);
  const [start, flow, drs, mh] = await panels(page);
  for (const p of [start, flow, drs, mh]) assert.equal(p.picture.split('\n').length, 8, p.caption);
  const accepted = Number(drs.caption.match(/(\d+) of 8 accepted/)[1]);
  assert.equal(drs.picture.split('\n').filter((l) => l === 'not accepted yet').length, 8 - accepted);
  assert.notEqual(flow.picture, start.picture);
  await page.context().close();
});

test('a budget or percentile the core refuses is named with a way out, and nothing runs', async () => {
  const page = await opened('?model=swissroll&batch=16&seed=8&view=matched&budget=5');
  assert.equal(await page.getAttribute('#budget', 'max'), '201', 'the core\'s limit');
  const cases = [
    ['budget', '0', /invalid budget = 0: expected at least 3 critic evaluations per sample/],
    ['budget', '2', /invalid budget = 2: expected at least 3/],
    ['budget', '500', /invalid budget = 500: expected at most 201 critic evaluations per sample/],
    ['budget', '7.5', /invalid budget = 7.5: expected a whole number/],
    ['percentile', '100', /invalid percentile = 100: expected a percentile strictly between 0 and 100/],
    ['percentile', '0', /invalid percentile = 0: expected a percentile strictly between 0 and 100/],
  ];
  for (const [field, value, message] of cases) {
    const kept = await page.inputValue(`#${field}`);
    await page.fill(`#${field}`, value);
    await page.click('#run');
    await page.waitForFunction(() => !document.getElementById('error').hidden, null, { timeout: 30_000 });
    const error = await page.textContent('#error');
    assert.match(error, message, `${field} = ${value}`);
    assert.match(error, /Change the setting named above and refine again\./);
    assert.equal(await page.textContent('#run'), 'Refine', 'the page is ready again');
    assert.equal(await page.$$eval('#matched figure', (f) => f.length), 0, 'no run started');
    await page.fill(`#${field}`, kept);
  }
  await refine(page);
  // The single view's DRS refuses a bad percentile the same way.
  await clicked(page, '#matched-button');
  await page.selectOption('#method', 'drs');
  await page.fill('#percentile', '-5');
  await page.click('#run');
  await page.waitForFunction(() => !document.getElementById('error').hidden, null, { timeout: 30_000 });
  assert.match(await page.textContent('#error'), /invalid percentile = -5/);
  await page.context().close();
});

test('on WebGPU the view fills in the same way', async () => {
  const page = await opened('?model=cifar10&batch=16&seed=5&steps=2');
  await page.selectOption('#prefer', 'webgpu');
  await page.waitForFunction(() => /your GPU \(WebGPU\)/.test(document.getElementById('backend').textContent), null, { timeout: 60_000 });
  await page.fill('#budget', '5');
  await clicked(page, '#matched-button');
  assert.match(await page.textContent('#note'), /^2 steps of DGflow \(KL\), 4 steps of DRS.* on WebGPU\.$/);
  const [start, flow, drs, mh] = await panels(page);
  assert.match(flow.caption, /· step 2 · .* · 5 evaluations per sample$/);
  assert.match(drs.caption, /\d+ of 16 accepted/);
  assert.match(mh.caption, /of 64 proposals accepted/);
  assert.notEqual(flow.picture, start.picture);
  for (const p of [start, flow, drs, mh]) assert.ok(p.verdict > 0, `a histogram under ${p.caption}`);
  await page.context().close();
});
