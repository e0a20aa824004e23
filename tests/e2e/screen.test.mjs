// The first screen, as a poster visitor's phone and a desktop show it: the comparison in the
// first viewport, the compare line dragged by a finger and moved by the keys, every control
// reached with Tab, no serious accessibility violation (axe-core) in light and dark, and a
// screenshot of each view for a person to look at. Run by `./build.sh test` (DIST, FIXTURES,
// SCREENSHOTS).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { launch, serve, servingFixtures } from './harness.mjs';

const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };
const DESKTOP = { viewport: { width: 1280, height: 800 } };

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

// A page at `query` (no service worker), once its first run has ended.
async function visit(query, options, setup) {
  const context = await browser.newContext({ serviceWorkers: 'block', ...options });
  if (setup) await setup(context);
  const page = await context.newPage();
  page.on('pageerror', (e) => console.log('[page error]', e.message));
  await page.goto(`${url}/${query}`);
  await page.waitForFunction(() => /steps .*in /.test(document.getElementById('note').textContent) || !document.getElementById('error').hidden,
    null, { timeout: 180_000 });
  assert.equal(await page.isHidden('#error'), true, await page.textContent('#error'));
  return page;
}

async function shot(page, name) {
  if (!process.env.SCREENSHOTS) return;
  mkdirSync(process.env.SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(process.env.SCREENSHOTS, `${name}.png`) });
}

test('a plain visit on a phone shows the comparison in the first screen, a 4×4 grid, and a finger moves the line', async () => {
  const page = await visit('', PHONE);
  const inView = async (selector) => {
    const box = await page.locator(selector).boundingBox();
    return box && box.y >= 0 && box.y + box.height <= PHONE.viewport.height && box.x >= 0 && box.x + box.width <= PHONE.viewport.width;
  };
  assert.ok(await inView('#compare'), 'the whole comparison lies in the first screen');
  for (const control of ['#scrubber', '#run', '#settings-button', '#explain-button']) {
    assert.ok(await inView(control), `${control} is in reach without scrolling`);
  }
  assert.equal(await page.isVisible('#eta'), false, 'the settings are behind their button');
  assert.match(page.url(), /batch=16(&|$)/, 'a phone\'s first look: a 4×4 grid');
  // before and after are the same picture's two halves: the same box.
  const [b, a] = [await page.locator('#before').boundingBox(), await page.locator('#after').boundingBox()];
  assert.deepEqual([b.x, b.y, b.width, b.height].map(Math.round), [a.x, a.y, a.width, a.height].map(Math.round));
  assert.ok(a.width >= 300, `tiles large enough to see: the grid is ${a.width} px wide`);

  // Drag the line with a finger from the middle to a fifth of the way.
  const cdp = await page.context().newCDPSession(page);
  const line = await page.locator('#split').boundingBox();
  const y = line.y + line.height / 2;
  const touch = (type, x) => cdp.send('Input.dispatchTouchEvent', { type, touchPoints: type === 'touchEnd' ? [] : [{ x, y }] });
  await touch('touchStart', line.x + line.width / 2);
  for (const f of [0.4, 0.3, 0.2]) await touch('touchMove', a.x + a.width * f);
  await touch('touchEnd');
  const moved = Number(await page.getAttribute('#split', 'aria-valuenow'));
  assert.ok(moved >= 15 && moved <= 25, `the line follows the finger to 20 %: ${moved}`);
  const clip = await page.evaluate(() => getComputedStyle(document.getElementById('before')).clipPath);
  assert.match(clip, /inset/, 'the before picture is cut at the line');
  await shot(page, 'phone-image-light');

  // The explanation and the settings are one tap away.
  await page.click('#explain-button');
  assert.equal(await page.isVisible('#histogram'), true);
  await page.click('#settings-button');
  assert.equal(await page.isVisible('#eta'), true);
  assert.equal(await page.getAttribute('#settings-button', 'aria-expanded'), 'true');
  // More samples: four times as many.
  await page.click('#more');
  await page.waitForFunction(() => /steps in/.test(document.getElementById('note').textContent), null, { timeout: 180_000 });
  assert.match(page.url(), /batch=64(&|$)/);
  await page.context().close();
});

test('Tab reaches every control in order; the keys move the line and the scrubber', async () => {
  const page = await visit('?model=25gaussians&batch=32&steps=5&seed=1', DESKTOP);
  const reached = [];
  await page.evaluate(() => document.activeElement?.blur());
  for (let i = 0; i < 40; i++) {
    await page.keyboard.press('Tab');
    const id = await page.evaluate(() => document.activeElement?.id || document.activeElement?.tagName.toLowerCase());
    if (reached.includes(id)) break;
    reached.push(id);
  }
  for (const id of ['split', 'play', 'scrubber', 'run', 'fresh', 'more', 'model', 'method', 'eta', 'gamma', 'steps', 'batch', 'seed', 'prefer', 'apply', 'paper', 'summary', 'download', 'qr-button']) {
    assert.ok(reached.includes(id), `Tab never reaches #${id}: ${reached.join(', ')}`);
  }
  assert.ok(reached.indexOf('split') < reached.indexOf('scrubber') && reached.indexOf('run') < reached.indexOf('model'),
    `the stage's controls come first: ${reached.join(', ')}`);
  await page.focus('#split');
  await page.keyboard.press('ArrowLeft');
  assert.equal(await page.getAttribute('#split', 'aria-valuenow'), '45');
  await page.keyboard.press('End');
  assert.equal(await page.getAttribute('#split', 'aria-valuenow'), '100');
  await page.focus('#scrubber');
  await page.keyboard.press('ArrowLeft');
  assert.equal(await page.textContent('#step-label'), '4');
  await page.keyboard.press('Home');
  assert.equal(await page.textContent('#step-label'), '0');
  await page.context().close();
});

// Each view, light and dark, phone and desktop: checked by axe-core (no serious or critical
// violation) and photographed.
const VIEWS = [
  ['image', '?model=cifar10&batch=16&steps=3&seed=2'],
  ['points', '?model=25gaussians&batch=256&steps=5&seed=2'],
  ['text', '?model=tiny-text&batch=8&steps=3&seed=2'],
  ['reject-or-refine-image', '?model=cifar10&batch=16&seed=2&view=matched&budget=7'],
  ['reject-or-refine-points', '?model=25gaussians&batch=256&seed=2&view=matched&budget=7'],
];
for (const [kind, query] of VIEWS) {
  for (const [device, options] of [['desktop', DESKTOP], ['phone', PHONE]]) {
    for (const scheme of ['light', 'dark']) {
      test(`the ${kind} view on a ${device}, ${scheme}: no serious accessibility violation`, async () => {
        const page = await visit(query, { ...options, colorScheme: scheme }, kind === 'text' ? withText : null);
        if (device === 'phone') {
          await page.click('#explain-button');
          await page.click('#settings-button');
        }
        await page.addScriptTag({ path: AXE });
        const violations = await page.evaluate(async () => (await window.axe.run(document)).violations
          .filter((v) => v.impact === 'serious' || v.impact === 'critical')
          .map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join('; ')})`));
        assert.deepEqual(violations, []);
        if (kind === 'text') {
          // Each sentence's before and after on adjacent lines.
          const order = await page.evaluate(() => [...document.querySelectorAll('#pairs li')]
            .sort((p, q) => p.getBoundingClientRect().top - q.getBoundingClientRect().top).map((li) => li.parentElement.id));
          assert.deepEqual(order.slice(0, 4), ['before-text', 'after-text', 'before-text', 'after-text']);
        }
        await page.evaluate(() => window.scrollTo(0, 0));
        await shot(page, `${device}-${kind}-${scheme}`);
        await page.context().close();
      });
    }
  }
}
