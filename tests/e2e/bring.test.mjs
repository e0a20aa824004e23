// A model the visitor brings to the page: files picked or dropped (manifest.json and its
// weights, or one .zip), and `?bundle=URL` on another host. Validated by the core as the page's
// own, refused with a message when broken (the page carries on), offline after a visit.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateRawSync } from 'node:zlib';
import { launch, serve } from './harness.mjs';

let site, elsewhere, browser;
const FIXTURE = (file) => join(process.env.FIXTURES, 'tiny-image', file);

before(async () => {
  site = await serve(process.env.DIST);
  // Another origin, as a researcher's own host: CORS lets the page read it.
  elsewhere = await serve(process.env.FIXTURES, '', { cors: true });
  browser = await launch();
});

after(async () => {
  await browser?.close();
  site?.server.close();
  elsewhere?.server.close();
});

async function open(query, options = {}) {
  const context = await browser.newContext(options);
  const page = await context.newPage();
  page.on('pageerror', (e) => console.log('[page error]', e.message));
  await page.goto(`${site.url}/${query}`);
  return page;
}

const finished = (page) => page.waitForFunction(
  () => /steps in/.test(document.getElementById('note').textContent) || !document.getElementById('error').hidden,
  null, { timeout: 120_000 });
const pixels = (page, id) => page.evaluate((i) => document.getElementById(i).toDataURL(), id);
const errorText = (page) => page.textContent('#error');

// A plain visit's run done and its note cleared, so that the next `finished` is the next run's.
async function settled(page) {
  await finished(page);
  assert.equal(await page.isHidden('#error'), true, await errorText(page));
  await page.evaluate(() => { document.getElementById('note').textContent = ''; });
}

// A zip of `files` ({name, bytes, deflate, declared}): `declared` overrides the size an entry
// states (a zip bomb's lie).
function zip(files) {
  const locals = [];
  const central = [];
  let offset = 0;
  for (const { name, bytes, deflate = true, declared } of files) {
    const data = deflate ? deflateRawSync(bytes) : bytes;
    const nameBytes = Buffer.from(name);
    // The local header and the directory entry hold the same fields, the entry's 2 bytes later.
    const header = (signature, size, shift) => {
      const b = Buffer.alloc(size);
      b.writeUInt32LE(signature, 0);
      b.writeUInt16LE(20, 4); // version needed (the entry's: made by)
      b.writeUInt16LE(deflate ? 8 : 0, 8 + shift);
      b.writeUInt32LE(crc32(bytes), 14 + shift);
      b.writeUInt32LE(data.length, 18 + shift);
      b.writeUInt32LE(declared ?? bytes.length, 22 + shift);
      b.writeUInt16LE(nameBytes.length, 26 + shift);
      return b;
    };
    const local = header(0x04034b50, 30, 0);
    const entry = header(0x02014b50, 46, 2);
    entry.writeUInt16LE(20, 6); // version needed
    entry.writeUInt32LE(offset, 42);
    locals.push(local, nameBytes, data);
    central.push(entry, nameBytes);
    offset += 30 + nameBytes.length + data.length;
  }
  const directory = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(files.length, 8);
  end.writeUInt16LE(files.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

// Drops `files` ({name, bytes}) on the page as a visitor drags them from a file manager.
async function drop(page, files) {
  const transfer = await page.evaluateHandle((given) => {
    const dt = new DataTransfer();
    for (const { name, base64 } of given) {
      const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
      dt.items.add(new File([bytes], name));
    }
    return dt;
  }, files.map(({ name, bytes }) => ({ name, base64: Buffer.from(bytes).toString('base64') })));
  await page.dispatchEvent('body', 'dragenter', { dataTransfer: transfer });
  assert.equal(await page.isVisible('#drop-zone'), true, 'the drop zone shows while files are held over the page');
  await page.dispatchEvent('body', 'drop', { dataTransfer: transfer });
}

const manifest = () => readFileSync(FIXTURE('manifest.json'));
const weights = () => readFileSync(FIXTURE('weights.safetensors'));

test('a bundle picked from files refines, and the header says whose model is shown', async () => {
  const page = await open('?model=swissroll&batch=16&steps=3&seed=4', { serviceWorkers: 'block' });
  await settled(page);
  await page.setInputFiles('#own-files', [FIXTURE('manifest.json'), FIXTURE('weights.safetensors')]);
  await finished(page);
  assert.equal(await page.isHidden('#error'), true, await errorText(page));
  assert.equal(await page.inputValue('#model'), 'yours:tiny-image');
  assert.match(await page.textContent('#whose'), /Showing tiny-image.*not one of this page's models.*your files; nothing was uploaded, so a link cannot bring it along/);
  assert.equal(await page.getAttribute('#scrubber', 'max'), '3', 'the form\'s settings carry over');
  assert.notEqual(await pixels(page, 'after'), await pixels(page, 'before'));
  const [file] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
  assert.equal(file.suggestedFilename(), 'dgflow-tiny-image-dgflow-kl-seed4-step3.png');
  // On another backend the same model is built again from the kept bytes.
  const cpu = await pixels(page, 'after');
  await page.evaluate(() => { document.getElementById('note').textContent = ''; });
  await page.selectOption('#prefer', 'cpu');
  await page.waitForFunction(() => /CPU chosen/.test(document.getElementById('backend').textContent));
  await page.click('#run');
  await finished(page);
  assert.equal(await page.isHidden('#error'), true, await errorText(page));
  assert.equal(await pixels(page, 'after'), cpu, 'the same picture after the engine was opened again');
  // Back to one of the page's own models: the header line goes.
  await page.selectOption('#model', 'swissroll');
  assert.equal(await page.isHidden('#whose'), true);
  await page.context().close();
});

test('a dropped .zip opens; missing, corrupt and bomb bundles are refused and the page carries on', async () => {
  const page = await open('?model=swissroll&batch=16&steps=2&seed=4', { serviceWorkers: 'block' });
  await settled(page);
  const refused = async (files, pattern) => {
    await page.evaluate(() => { document.getElementById('error').hidden = true; });
    await drop(page, files);
    await page.waitForFunction(() => !document.getElementById('error').hidden, null, { timeout: 60_000 });
    const text = await errorText(page);
    assert.match(text, pattern);
    assert.match(text, /The page's own models still work/);
    assert.equal(await page.inputValue('#model'), 'swissroll', 'the model shown stays');
    assert.equal(await page.isHidden('#progress'), true);
  };
  await refused([{ name: 'manifest.json', bytes: manifest() }],
    /names its weights file weights\.safetensors, which is not among the files you chose/);
  const flipped = Buffer.from(weights());
  flipped[flipped.length - 1] ^= 0xff;
  await refused([{ name: 'manifest.json', bytes: manifest() }, { name: 'weights.safetensors', bytes: flipped }], /SHA-256/);
  await refused([{ name: 'weights.safetensors', bytes: weights() }], /none of weights\.safetensors is a manifest\.json/);
  // Zip bombs: an entry that declares more than a bundle's weights can be is not inflated; one
  // that lies about its size is stopped where its data passes what it declared.
  const huge = zip([{ name: 'manifest.json', bytes: manifest() }, { name: 'weights.safetensors', bytes: Buffer.alloc(1000), declared: 0xfffffff0 }]);
  await refused([{ name: 'bomb.zip', bytes: huge }], /bomb\.zip: weights\.safetensors is 4294967280 bytes, more than the \d+ its weights file can have; it was not read/);
  const liar = zip([{ name: 'manifest.json', bytes: manifest() }, { name: 'weights.safetensors', bytes: Buffer.alloc(8 << 20), declared: weights().length }]);
  await refused([{ name: 'liar.zip', bytes: liar }], /inflates past the \d+ bytes it declares/);
  await refused([{ name: 'broken.zip', bytes: Buffer.from('not a zip at all') }], /broken\.zip is not a zip file/);
  const two = zip([{ name: 'a/manifest.json', bytes: manifest() }, { name: 'b/manifest.json', bytes: manifest() }]);
  await refused([{ name: 'two.zip', bytes: two }], /two\.zip: a\/manifest\.json and two\.zip: b\/manifest\.json share the name manifest\.json: bring one bundle at a time/);

  // Still usable: the page's own model refines again.
  await page.evaluate(() => { document.getElementById('error').hidden = true; document.getElementById('note').textContent = ''; });
  await page.click('#run');
  await finished(page);
  assert.equal(await page.isHidden('#error'), true, await errorText(page));

  // A good zip (a folder inside, one entry stored, one deflated) opens and refines.
  const good = zip([
    { name: 'my-gan/manifest.json', bytes: manifest(), deflate: false },
    { name: 'my-gan/weights.safetensors', bytes: weights() },
  ]);
  await page.evaluate(() => { document.getElementById('note').textContent = ''; });
  await drop(page, [{ name: 'my-gan.zip', bytes: good }]);
  await finished(page);
  assert.equal(await page.isHidden('#error'), true, await errorText(page));
  assert.equal(await page.inputValue('#model'), 'yours:tiny-image');
  assert.equal(await page.isHidden('#drop-zone'), true);
  await page.context().close();
});

test('?bundle=URL on another host opens it, links to it, and works offline after a visit', async () => {
  const where = `${elsewhere.url}/tiny-image/`;
  const page = await open(`?bundle=${encodeURIComponent(where)}&batch=9&steps=3&seed=4`);
  await finished(page);
  assert.equal(await page.isHidden('#error'), true, await errorText(page));
  assert.match(await page.textContent('#whose'), new RegExp(`Showing tiny-image.*opened from ${where.replace(/[./]/g, '\\$&')}`));
  const link = new URL(page.url());
  assert.equal(link.searchParams.get('bundle'), where, 'the link brings the bundle along');
  assert.equal(link.searchParams.get('model'), null);
  const online = await pixels(page, 'after');

  const shared = await page.context().newPage();
  await shared.goto(page.url());
  await finished(shared);
  assert.equal(await shared.textContent('#step-label'), '3');
  assert.equal(await pixels(shared, 'after'), online, 'a shared link shows the same picture');
  await shared.close();

  await page.context().setOffline(true);
  await page.reload();
  await finished(page);
  assert.equal(await page.isHidden('#error'), true, `offline: ${await errorText(page)}`);
  assert.equal(await pixels(page, 'after'), online, 'the same picture, offline');
  await page.context().close();

  // A zip by URL, and an address with nothing there.
  const dir = mkdtempSync(join(tmpdir(), 'bundle-'));
  writeFileSync(join(dir, 'tiny.zip'), zip([{ name: 'manifest.json', bytes: manifest() }, { name: 'weights.safetensors', bytes: weights() }]));
  const zipHost = await serve(dir, '', { cors: true });
  const zipped = await open(`?bundle=${encodeURIComponent(`${zipHost.url}/tiny.zip`)}&batch=9&steps=3&seed=4`, { serviceWorkers: 'block' });
  await finished(zipped);
  assert.equal(await zipped.isHidden('#error'), true, await errorText(zipped));
  assert.equal(await pixels(zipped, 'after'), online, 'the same bundle, zipped');
  await zipped.context().close();
  zipHost.server.close();

  const missing = await open(`?bundle=${encodeURIComponent(`${elsewhere.url}/no-such-model/`)}`, { serviceWorkers: 'block' });
  await missing.waitForFunction(() => !document.getElementById('error').hidden, null, { timeout: 60_000 });
  assert.match(await errorText(missing), /no-such-model\/manifest\.json: HTTP 404.*allows other sites to read it/);
  await missing.context().close();
  // A host that does not allow other sites to read it (no CORS header) is named as such.
  const closed = await serve(process.env.FIXTURES);
  const refused = await open(`?bundle=${encodeURIComponent(`${closed.url}/tiny-image/`)}`, { serviceWorkers: 'block' });
  await refused.waitForFunction(() => !document.getElementById('error').hidden, null, { timeout: 60_000 });
  assert.match(await errorText(refused), /tiny-image\/manifest\.json could not be fetched .*does not let other sites read it \(CORS\)/);
  await refused.context().close();
  closed.server.close();
});
