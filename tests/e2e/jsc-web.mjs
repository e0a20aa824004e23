// The few web APIs the wasm-bindgen glue uses, for JavaScriptCore's command-line shell (`jsc`,
// Debian's libjavascriptcoregtk-4.0-bin): Safari's engine without Safari. Imported first by the
// scripts that run our modules there.
globalThis.console ??= {};
for (const level of ['log', 'info', 'warn', 'error', 'debug']) console[level] = (...parts) => print(parts.join(' '));
globalThis.performance ??= { now: () => preciseTime() * 1000 };
// Only reached if something asks the platform for entropy; every refinement here is seeded.
globalThis.crypto ??= {
  getRandomValues(array) {
    for (let i = 0; i < array.length; i++) array[i] = Math.floor(Math.random() * 256);
    return array;
  },
};

globalThis.TextEncoder ??= class {
  encode(text) {
    return Uint8Array.from(unescape(encodeURIComponent(text)), (c) => c.charCodeAt(0));
  }

  encodeInto(text, view) {
    const bytes = this.encode(text);
    view.set(bytes.subarray(0, view.length));
    return { read: text.length, written: Math.min(bytes.length, view.length) };
  }
};

globalThis.TextDecoder ??= class {
  decode(bytes = new Uint8Array()) {
    let latin1 = '';
    for (const byte of bytes) latin1 += String.fromCharCode(byte);
    return decodeURIComponent(escape(latin1));
  }
};

// A file's bytes (the shell reads files; it has no fetch).
export const bytes = (path) => new Uint8Array(readFile(path, 'binary'));
