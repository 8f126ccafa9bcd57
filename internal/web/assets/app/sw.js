// herald's service worker: shows Web Push notifications herald sends (the
// payload of internal/channel/webpush: {id, eventId, tag, title, message,
// urgency, actions, ...}) and opens the notification center on a click.
//
// The notification's tag is the payload's tag (the notification's id): a
// repeat of the same notification (herald resending after a crash cut off
// its record of the first send) replaces the one shown instead of adding a
// second, and does not alert again (renotify is false).
self.addEventListener('push', (event) => {
  let n = {};
  try { n = event.data ? event.data.json() : {}; } catch { n = { message: event.data ? event.data.text() : '' }; }
  const title = n.title || 'herald';
  event.waitUntil(self.registration.showNotification(title, {
    body: n.message || '',
    tag: n.tag || n.eventId || n.id,
    renotify: false,
    icon: '/app/icon.svg',
    requireInteraction: n.urgency === 'high',
    data: { url: '/#/me', eventId: n.eventId },
  }));
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const url = new URL(event.notification.data?.url || '/#/me', self.location.origin).href;
  event.waitUntil((async () => {
    const all = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
    for (const c of all) {
      if (new URL(c.url).origin === self.location.origin) {
        await c.focus();
        return c.navigate ? c.navigate(url).catch(() => undefined) : undefined;
      }
    }
    return self.clients.openWindow(url);
  })());
});
