// Offline support: after a visit, the page, its wasm and the models it used keep working with no
// network (a poster hall's Wi-Fi is poor). Network first, so a new version is picked up whenever
// the network is there; the cache answers only when it is not. Model weights are left to the
// worker's own cache, which is keyed by their SHA-256.
const CACHE = 'dgflow-site-v1';

// The two headers that make the page cross-origin isolated, which wasm threads need (the CPU
// backend on every core). A static host (e.g. a repository's pages site) cannot send them, so this
// worker adds them to what it serves (main.js reloads a first visit once to pick them up).
// Everything the page loads is its own, so requiring CORP blocks nothing.
const ISOLATION = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };

function isolated(response) {
  if (response.status === 0) return response; // a navigation's redirect: the browser follows it
  const headers = new Headers(response.headers);
  for (const [name, value] of Object.entries(ISOLATION)) headers.set(name, value);
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('fetch', (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== self.location.origin || url.pathname.endsWith('.safetensors')) return;
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    try {
      const response = await fetch(request);
      if (response.ok) await cache.put(request, response.clone());
      return isolated(response);
    } catch (offline) {
      // The page's own URL carries its settings in the query: any query serves the same page.
      const hit = await cache.match(request, { ignoreSearch: url.pathname.endsWith('/') || url.pathname.endsWith('.html') });
      if (hit) return isolated(hit);
      throw offline;
    }
  })());
});
