// Return visits and offline use: registers the site's service worker (sw.js) once the first query
// is answered (so its install never competes with the first visit's boot), and files the catalogue
// objects this page already fetched under the data cache, so that a page seen once reopens
// offline. The service worker revalidates them on every later visit.
export async function registerOffline(config, sourceRoot, objects) {
  if (!("serviceWorker" in navigator) || !self.caches || !config.serviceWorkerURL) return;
  try {
    await navigator.serviceWorker.register(config.serviceWorkerURL);
    const cache = await caches.open(config.dataCache);
    await Promise.all(Object.entries(objects).map(([name, { bytes, type }]) =>
      cache.put(sourceRoot + name, new Response(bytes, { headers: { "Content-Type": type } }))));
  } catch (error) {
    console.warn("offline support unavailable:", error);
  }
}
