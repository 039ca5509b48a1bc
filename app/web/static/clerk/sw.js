// The scanner's service worker: keeps the page and its assets so that the scanner opens,
// and keeps working with its cached keys and queue, when the shop's network is down.
// Network first (a deploy is seen at once), the cache when the network fails. The API is
// never cached: it must be live or be seen to fail.
const CACHE = 'o2o-clerk-v3';
const SHELL = [
  '/clerk/', '/static/common/base.css', '/static/common/api.js', '/static/common/codes.js',
  '/static/common/i18n.js', '/static/common/login.js', '/static/common/ui.js', '/static/common/qr.js',
  '/static/common/terms.js', '/static/common/forms.js',
  '/static/clerk/app.js', '/static/clerk/words.js', '/static/clerk/bundle.js', '/static/clerk/clerk.css',
  '/static/vendor/noble-ed25519/index.js', '/static/vendor/noble-hashes/sha2.js',
  '/static/vendor/noble-hashes/_md.js', '/static/vendor/noble-hashes/_u64.js',
  '/static/vendor/noble-hashes/utils.js', '/static/vendor/qrcode-generator/qrcode.mjs',
  '/static/vendor/jsqr/jsQR.js',
];

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(caches.keys()
    .then((names) => Promise.all(names.filter((n) => n !== CACHE).map((n) => caches.delete(n))))
    .then(() => self.clients.claim()));
});

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== 'GET' || url.origin !== location.origin) return;
  if (!(url.pathname.startsWith('/clerk/') || url.pathname.startsWith('/static/'))) return;
  const key = url.pathname.startsWith('/clerk/') ? '/clerk/' : url.pathname;
  event.respondWith(fetch(event.request).then((response) => {
    if (response.ok) {
      const copy = response.clone();
      caches.open(CACHE).then((cache) => cache.put(key, copy));
    }
    return response;
  }).catch(() => caches.match(key).then((hit) => hit || Response.error())));
});
