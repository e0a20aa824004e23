// The controls people click first, each used as a visitor would: every method from the menu, ▶,
// Stop mid-run, New samples, the γ field, switching models, settings the core refuses, and a
// 2D GAN trained on the Swiss roll. Run by `./build.sh test` with DIST pointing at the site.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, serve } from './harness.mjs';

let server, url, browser;

before(async () => {
  ({ server, url } = await serve(process.env.DIST));
  browser = await launch();
});

after(async () => {
  await browser?.close();
  server?.close();
});

// A page without a service worker (so no isolation reload), at `query`, once its first run ended.
async function opened(query) {
  const context = await browser.newContext({ serviceWorkers: 'block' });
  const page = await context.newPage();
  page.on('pageerror', (e) => console.log('[page error]', e.message));
  await page.goto(`${url}/${query}`);
  await ended(page);
  return page;
}

// The note after a run (`N steps in …`, `Stopped at step N.`) or an error shown.
const ended = (page) => page.waitForFunction(
  () => /steps in|Stopped at step/.test(document.getElementById('note').textContent) || !document.getElementById('error').hidden,
  null, { timeout: 120_000 });

// Clicks Refine and waits for the run to end; returns the note (or throws with the error).
async function refine(page) {
  await page.evaluate(() => { document.getElementById('note').textContent = ''; });
  await page.click('#run');
  await ended(page);
  assert.equal(await page.isHidden('#error'), true, await page.textContent('#error'));
  return page.textContent('#note');
}

const pixels = (page, id) => page.evaluate((i) => document.getElementById(i).toDataURL(), id);
const setField = (page, id, value) => page.fill(`#${id}`, String(value));

test('every method of the menu refines, and the link names it', async () => {
  const page = await opened('?model=swissroll&batch=16&steps=3&seed=2');
  const before = await pixels(page, 'before');
  const methods = await page.$$eval('#method option', (options) => options.map((o) => o.value));
  assert.deepEqual(methods, ['dgflow-kl', 'dgflow-js', 'dgflow-logd', 'ddls', 'dot', 'drs', 'mh-gan']);
  for (const method of methods) {
    await page.selectOption('#method', method);
    assert.match(await refine(page), /^3 steps in /, method);
    assert.equal(await page.getAttribute('#scrubber', 'max'), '3', method);
    assert.equal(await pixels(page, 'before'), before, `${method} starts from the same samples`);
    assert.notEqual(await pixels(page, 'after'), before, `${method} changes the samples`);
    assert.match(page.url(), new RegExp(`method=${method}(&|$)`));
  }
  await page.context().close();
});

test('DRS and MH-GAN select instead of moving: the page shows what they accepted and what each method spent', async () => {
  const page = await opened('?model=cifar10&batch=16&steps=4&seed=5&method=drs');
  assert.equal(await page.isDisabled('#eta'), true, 'no step size for a method that only selects');
  assert.equal(await page.isDisabled('#gamma'), true);
  // DRS: its burn-in batch (256) and every proposal count, over the samples it accepted.
  const drs = await page.textContent('#after-logit');
  const [, accepted, perSample] = drs.match(/· (\d+) of 16 accepted · ([\d.]+) critic evaluations per sample/) ?? [];
  assert.ok(Number(accepted) >= 1 && Number(perSample) > (256 + 16) / 16, drs);
  await page.selectOption('#method', 'mh-gan');
  await refine(page);
  // MH-GAN: one proposal per chain and step, 4 after the first.
  assert.match(await page.textContent('#after-logit'), /· 5 critic evaluations per sample$/);
  await page.selectOption('#method', 'dgflow-kl');
  assert.equal(await page.isDisabled('#eta'), false);
  await refine(page);
  // DGflow: 5 logits and 4 gradients per sample for 4 steps.
  assert.match(await page.textContent('#after-logit'), /· 9 critic evaluations per sample$/);
  await page.context().close();
});

test('▶ plays the flow from the start to the last step and stops there', async () => {
  const page = await opened('?model=swissroll&batch=16&steps=6&seed=3');
  await page.fill('#scrubber', '6');
  await page.dispatchEvent('#scrubber', 'input');
  const shown = [];
  await page.exposeFunction('seen', (step) => shown.push(Number(step)));
  await page.evaluate(() => new MutationObserver(() => window.seen(document.getElementById('step-label').textContent))
    .observe(document.getElementById('step-label'), { childList: true, characterData: true, subtree: true }));
  await page.click('#play');
  assert.equal(await page.textContent('#play'), '❚❚');
  await page.waitForFunction(() => document.getElementById('play').textContent === '▶', null, { timeout: 10_000 });
  assert.deepEqual(shown, [0, 1, 2, 3, 4, 5, 6], 'from step 0 through every step, once each');
  assert.equal(await page.textContent('#step-label'), '6');
  await page.context().close();
});

test('Stop ends a run mid-way, keeps what it reached, and the page refines again', async () => {
  const page = await opened('?model=cifar10&batch=16&steps=2&seed=1');
  await setField(page, 'steps', 200);
  await page.evaluate(() => { document.getElementById('note').textContent = ''; });
  await page.click('#run');
  await page.waitForFunction(() => Number(document.getElementById('scrubber').max) >= 2, null, { timeout: 120_000 });
  assert.equal(await page.textContent('#run'), 'Stop');
  await page.click('#run');
  await ended(page);
  const note = await page.textContent('#note');
  const reached = Number(/^Stopped at step (\d+)\.$/.exec(note)?.[1]);
  assert.ok(reached >= 2 && reached < 200, note);
  assert.equal(await page.textContent('#run'), 'Refine');
  assert.equal(Number(await page.getAttribute('#scrubber', 'max')), reached, 'the scrubber reaches the last step done');
  await setField(page, 'steps', 2);
  assert.match(await refine(page), /^2 steps in /);
  await page.context().close();
});

test('New samples draws another seed, shows it in the link and refines it', async () => {
  const page = await opened('?model=swissroll&batch=16&steps=2&seed=5');
  const before = await pixels(page, 'before');
  await page.evaluate(() => { document.getElementById('note').textContent = ''; });
  await page.click('#fresh');
  await ended(page);
  const seed = await page.inputValue('#seed');
  assert.notEqual(seed, '5');
  assert.match(page.url(), new RegExp(`seed=${seed}(&|$)`));
  assert.notEqual(await pixels(page, 'before'), before, 'other latents, other base samples');
  await page.context().close();
});

test('the γ field sets the noise of a run, and the link keeps it', async () => {
  const page = await opened('?model=swissroll&batch=16&steps=4&seed=6&gamma=1');
  const noisy = await pixels(page, 'after');
  await setField(page, 'gamma', 0);
  await refine(page);
  assert.match(page.url(), /gamma=0(&|$)/);
  assert.notEqual(await pixels(page, 'after'), noisy, 'the same seed without noise ends elsewhere');
  // The link reproduces the run without noise.
  const shared = await opened(new URL(page.url()).search);
  assert.equal(await shared.inputValue('#gamma'), '0');
  assert.equal(await pixels(shared, 'after'), await pixels(page, 'after'));
  await page.context().close();
  await shared.context().close();
});

test('switching models takes the new model\'s own step size and describes it', async () => {
  const page = await opened('?model=swissroll&batch=16&steps=2&seed=7');
  assert.equal(await page.inputValue('#eta'), '0.01', 'the Swiss roll recommends η = 0.01');
  await page.selectOption('#model', 'cifar10');
  await page.waitForFunction(() => /CIFAR-10/.test(document.getElementById('about').textContent));
  assert.equal(await page.inputValue('#eta'), '0.1', 'cifar10 takes the paper\'s η');
  assert.equal(await page.textContent('#note'), '', 'no recommendation to mention');
  assert.match(await refine(page), /^2 steps in /);
  assert.equal(await page.evaluate(() => document.getElementById('after').width > 100), true, 'an image grid');
  assert.match(page.url(), /model=cifar10/);
  await page.selectOption('#model', '25gaussians');
  await page.waitForFunction(() => /25 Gaussians/.test(document.getElementById('about').textContent));
  assert.equal(await page.inputValue('#eta'), '0.01');
  assert.match(await page.textContent('#note'), /25gaussians recommends η = 0.01, γ = 0.01 \(the paper's defaults are η = 0.1, γ = 0.01\)/);
  await page.context().close();
});

test('settings the core refuses are named with a way out, and nothing runs', async () => {
  const page = await opened('?model=swissroll&batch=16&steps=2&seed=8');
  const picture = await pixels(page, 'after');
  // The form's limits are the core's (Limits::PAGE), not copies of them.
  assert.equal(await page.getAttribute('#steps', 'max'), '200');
  assert.equal(await page.getAttribute('#batch', 'max'), '256');
  const cases = [
    ['steps', '0', /invalid steps = 0: expected 1 to 200/],
    ['steps', '201', /invalid steps = 201: expected 1 to 200/],
    ['batch', '257', /invalid batch = 257: expected 1 to 256/],
    ['batch', '0', /invalid batch = 0/],
    ['eta', '-1', /invalid eta = -1: expected a step size in \(0, 10\]/],
    ['eta', '', /invalid eta = 0/],
    ['gamma', '11', /invalid gamma = 11/],
  ];
  for (const [field, value, message] of cases) {
    const kept = await page.inputValue(`#${field}`);
    await setField(page, field, value);
    await page.click('#run');
    await page.waitForFunction(() => !document.getElementById('error').hidden, null, { timeout: 30_000 });
    const error = await page.textContent('#error');
    assert.match(error, message, `${field} = ${value}`);
    assert.match(error, /Change the setting named above and refine again\./);
    assert.equal(await page.textContent('#run'), 'Refine', 'the page is ready again');
    assert.equal(await page.getAttribute('#scrubber', 'max'), '0', 'no step ran');
    await setField(page, field, kept);
  }
  assert.match(await refine(page), /^2 steps in /);
  assert.equal(await pixels(page, 'after'), picture, 'the settings restored give the same picture');
  await page.context().close();
});

test('a 2D GAN trained on the Swiss roll in the page refines', async () => {
  const page = await opened('?model=swissroll&batch=64&steps=3&seed=9');
  await page.click('#live summary');
  assert.equal(await page.getAttribute('#live-iterations', 'min'), '100', 'the core\'s range');
  assert.equal(await page.getAttribute('#live-iterations', 'max'), '20000');
  assert.equal(await page.inputValue('#live-iterations'), '1500', 'the core\'s suggestion');
  await page.selectOption('#live-toy', 'swissroll');
  await setField(page, 'live-iterations', 200);
  await page.click('#live-train');
  await page.waitForFunction(() => document.getElementById('model').value === 'live-swissroll' && /steps in/.test(document.getElementById('note').textContent)
    || !document.getElementById('error').hidden, null, { timeout: 180_000 });
  assert.equal(await page.isHidden('#error'), true, await page.textContent('#error'));
  assert.match(await page.textContent('#model option:checked'), /swissroll \(trained here, 200 iterations\)/);
  assert.match(page.url(), /model=live-swissroll/);
  assert.notEqual(await pixels(page, 'after'), await pixels(page, 'before'), 'refinement moves the samples');
  await page.context().close();
});
