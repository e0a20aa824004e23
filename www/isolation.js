// The service worker (sw.js) keeps the page working offline and makes it cross-origin isolated,
// which wasm threads (the CPU backend on every core) need; a static host cannot send those
// headers. They apply from the page's next load, so on a first visit the page reloads once, as
// soon as the service worker controls it and before anything large is fetched. At most once per
// tab session (a browser that ignores the headers is not reloaded in a loop), never in an iframe
// (isolation there is the embedding page's to give), and not for a single core.
export async function reloadIsolated() {
  if (!('serviceWorker' in navigator)) return false;
  const registered = navigator.serviceWorker.register('sw.js').catch((e) => console.warn(`offline use unavailable: ${e.message}`));
  if (self.crossOriginIsolated || window.top !== window || (navigator.hardwareConcurrency || 1) < 2) return false;
  try {
    if (sessionStorage.getItem('dgflow-isolation-reload')) return false;
    sessionStorage.setItem('dgflow-isolation-reload', '1');
  } catch {
    return false; // no session storage: no guard against a loop, so no reload
  }
  if (!(await registered)) return false;
  const controlled = navigator.serviceWorker.controller ? Promise.resolve(true)
    : new Promise((resolve) => navigator.serviceWorker.addEventListener('controllerchange', () => resolve(true), { once: true }));
  if (!(await Promise.race([controlled, new Promise((resolve) => setTimeout(resolve, 3000, false))]))) return false;
  location.reload();
  return true;
}
