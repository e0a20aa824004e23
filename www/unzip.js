// Reads a .zip of a bundle in the worker: the central directory's entries, and each entry's
// bytes (stored, or deflated and inflated with the browser's DecompressionStream). A zip is
// untrusted: an entry that declares more bytes than its limit is refused before it is inflated,
// and one whose data inflates past what it declares (a zip bomb lies about its size) is stopped
// there.

const EOCD = 0x06054b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

const zipError = (message) => Object.assign(new Error(message), { code: 'bundle' });

// [{name, method, compressed, size, offset}] of the zip's files (folders left out).
export function zipEntries(bytes, label) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let end = -1;
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 22 - 65535); i--) {
    if (view.getUint32(i, true) === EOCD) { end = i; break; }
  }
  if (end < 0) throw zipError(`${label} is not a zip file (no end-of-archive record)`);
  const count = view.getUint16(end + 10, true);
  let at = view.getUint32(end + 16, true);
  const entries = [];
  for (let k = 0; k < count; k++) {
    if (at + 46 > bytes.length || view.getUint32(at, true) !== CENTRAL) throw zipError(`${label}: its directory is damaged`);
    const method = view.getUint16(at + 10, true);
    const compressed = view.getUint32(at + 20, true);
    const size = view.getUint32(at + 24, true);
    const nameLength = view.getUint16(at + 28, true);
    const skip = nameLength + view.getUint16(at + 30, true) + view.getUint16(at + 32, true);
    const offset = view.getUint32(at + 42, true);
    const name = new TextDecoder().decode(bytes.subarray(at + 46, at + 46 + nameLength));
    if (compressed === 0xffffffff || size === 0xffffffff || offset === 0xffffffff) {
      throw zipError(`${label}: ${name} is stored as ZIP64 (over 4 GB), larger than any bundle this page loads`);
    }
    if (!name.endsWith('/')) entries.push({ name, method, compressed, size, offset });
    at += 46 + skip;
  }
  return entries;
}

// The bytes of `entry`, refused unread if it declares more than `limit`.
export async function unzipEntry(bytes, entry, limit, label) {
  const where = `${label}: ${entry.name}`;
  if (entry.size > limit) {
    throw zipError(`${where} declares ${entry.size} bytes, more than the ${limit} its part of a bundle can have; it was not unpacked`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (entry.offset + 30 > bytes.length || view.getUint32(entry.offset, true) !== LOCAL) throw zipError(`${where}: its entry is damaged`);
  const start = entry.offset + 30 + view.getUint16(entry.offset + 26, true) + view.getUint16(entry.offset + 28, true);
  const data = bytes.subarray(start, start + entry.compressed);
  if (data.length !== entry.compressed) throw zipError(`${where}: the archive is cut short`);
  if (entry.method === 0) {
    if (entry.compressed !== entry.size) throw zipError(`${where}: its stored size and length differ`);
    return data;
  }
  if (entry.method !== 8) throw zipError(`${where} is compressed with method ${entry.method}; only stored and deflated entries are read`);
  const reader = new Blob([data]).stream().pipeThrough(new DecompressionStream('deflate-raw')).getReader();
  const out = new Uint8Array(entry.size);
  let done = 0;
  try {
    for (;;) {
      const { value, done: finished } = await reader.read();
      if (finished) break;
      if (done + value.length > entry.size) {
        await reader.cancel();
        throw zipError(`${where} inflates past the ${entry.size} bytes it declares (a zip bomb?); it was not unpacked`);
      }
      out.set(value, done);
      done += value.length;
    }
  } catch (e) {
    if (e.code) throw e;
    throw zipError(`${where} is damaged (${e.message || e})`);
  }
  if (done !== entry.size) throw zipError(`${where} holds ${done} bytes, not the ${entry.size} it declares`);
  return out;
}
