// Offline support: after a visit, the page, its wasm and the models it used keep working with no
// network (a poster hall's Wi-Fi is poor). Network first, so a new version is picked up whenever
// the network is there; the cache answers only when it is not. Model weights are left to the
// worker's own cache, which is keyed by their SHA-256.
const CACHE = 'dgflow-site-v1';

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
      return response;
    } catch (offline) {
      // The page's own URL carries its settings in the query: any query serves the same page.
      const hit = await cache.match(request, { ignoreSearch: url.pathname.endsWith('/') || url.pathname.endsWith('.html') });
      if (hit) return hit;
      throw offline;
    }
  })());
});
