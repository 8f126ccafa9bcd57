// A person's notification center: the inbox (live over SSE, with an unread
// badge and actions), the assistant in the official Web Chat on herald's
// Direct Line, preferences, and browser notifications.
import { h, replace, toast, when, fmt } from './dom.js';
import { api, userPath, stream } from './api.js';
import { prefsEditor } from './prefs.js';

export function notificationCenter(cred, signal) {
  const me = cred.userId;
  const items = new Map(); // id -> item, newest first by seq order of arrival
  let order = [];
  let unread = 0;
  const badge = h('span', { class: 'badge', id: 'unread-badge', 'aria-live': 'polite' });
  const list = h('ul', { class: 'inbox', 'aria-label': 'Notifications' });
  const streamState = h('span', { class: 'muted small', id: 'stream-state' }, 'connecting...');
  const prefs = prefsEditor(me, signal);
  const chat = assistant(me, signal);
  const push = pushOptIn(me, signal);

  const drawBadge = () => {
    badge.textContent = fmt(unread);
    badge.classList.toggle('zero', unread === 0);
    badge.setAttribute('aria-label', `${unread} unread`);
    document.title = unread ? `(${unread}) herald` : 'herald';
  };
  const drawList = () => {
    replace(list, order.length ? order.map((id) => itemView(items.get(id))) : h('li', { class: 'read' }, h('p', { class: 'muted' }, 'No notifications yet. New ones appear here as they arrive.')));
  };
  const markRead = async (it) => {
    if (it.readAt) return;
    try {
      const done = await api('POST', userPath(me, `/notifications/${encodeURIComponent(it.id)}/read`));
      it.readAt = done.readAt || new Date().toISOString();
      unread = Math.max(0, unread - 1);
      drawBadge();
      drawList();
    } catch (err) { toast(`Could not mark it read: ${err.message}`); }
  };
  const itemView = (it) => {
    const unreadNow = !it.readAt;
    const headingId = `n-${it.id}`;
    return h('li', { class: `${unreadNow ? 'unread' : 'read'}${it.urgency === 'high' ? ' high' : ''}`, 'aria-labelledby': headingId, 'data-id': it.id },
      h('div', { class: 'title', id: headingId }, unreadNow ? h('span', { class: 'unread-dot', 'aria-label': 'Unread' }, '● ') : null, it.title || it.message.slice(0, 80)),
      it.title ? h('div', {}, it.message) : null,
      h('div', { class: 'meta' }, [when(it.createdAt), it.category, it.urgency !== 'normal' ? `${it.urgency} urgency` : ''].filter(Boolean).join(' · ')),
      h('div', { class: 'actions' },
        (it.actions || []).map((a) => a.url && /^https?:/.test(a.url)
          ? h('a', { class: 'button', href: a.url, target: '_blank', rel: 'noopener noreferrer' }, a.title)
          : h('button', { type: 'button', class: 'primary', onclick: () => { chat.start(it, a); markRead(it); } }, a.title)),
        unreadNow ? h('button', { type: 'button', onclick: () => markRead(it), 'aria-label': `Mark "${it.title || it.message.slice(0, 40)}" read` }, 'Mark read') : null));
  };
  const add = (it, fresh) => {
    prefs.addCategory(it.category);
    if (items.has(it.id)) return;
    items.set(it.id, it);
    if (fresh) {
      order.unshift(it.id);
      if (!it.readAt) unread++;
      toast(`New notification: ${it.title || it.message}`);
    } else order.push(it.id);
  };

  api('GET', userPath(me, '/notifications?limit=50'), undefined, { signal }).then((page) => {
    for (const it of page.notifications) add(it, false);
    unread = page.unread;
    drawBadge();
    drawList();
  }).catch((err) => replace(list, h('li', {}, h('p', { class: 'error' }, err.message))));

  stream(userPath(me, '/notifications/stream'), {
    signal,
    onState: (s, err) => { streamState.textContent = s === 'open' ? 'live' : s === 'error' ? `not live: ${err.message}` : 'reconnecting...'; streamState.dataset.state = s; },
    onEvent: (type, data) => {
      if (type !== 'notification') return;
      try { add(JSON.parse(data), true); } catch { return; }
      drawBadge();
      drawList();
    },
  });

  drawBadge();
  return h('div', {},
    h('h1', {}, 'Notifications ', badge, ' ', streamState),
    h('div', { class: 'cols' },
      h('section', { 'aria-labelledby': 'inbox-h' }, h('h2', { id: 'inbox-h', class: 'sr-only' }, 'Inbox'), list),
      h('div', {},
        h('section', { class: 'panel', 'aria-labelledby': 'chat-h', id: 'assistant' }, h('h2', { id: 'chat-h' }, 'Assistant'), chat.el),
        h('section', { class: 'panel', 'aria-labelledby': 'prefs-h' }, h('h2', { id: 'prefs-h' }, 'Preferences'), prefs.el),
        h('section', { class: 'panel', 'aria-labelledby': 'push-h' }, h('h2', { id: 'push-h' }, 'Browser notifications'), push))));
}

// ---- the assistant in Web Chat -------------------------------------------

let webChatLoad = null;
function loadWebChat() {
  if (!webChatLoad) {
    webChatLoad = fetch('/app/config.json').then((r) => r.json()).then((cfg) => {
      if (!cfg.webChat) throw new Error('Web Chat is not included in this build of herald (see docs/web.md).');
      if (window.WebChat) return window.WebChat;
      return new Promise((resolve, reject) => {
        const s = document.createElement('script');
        s.src = '/app/vendor/webchat.js';
        s.onload = () => resolve(window.WebChat);
        s.onerror = () => reject(new Error('Web Chat could not be loaded.'));
        document.head.append(s);
      });
    });
    webChatLoad.catch(() => { webChatLoad = null; });
  }
  return webChatLoad;
}

function assistant(me, signal) {
  const box = h('div', { id: 'webchat', role: 'region', 'aria-label': 'Conversation with the assistant', 'data-state': 'connecting', 'aria-busy': 'true' });
  const status = h('p', { class: 'muted small' }, 'Connecting to the assistant...');
  const el = h('div', {}, status, box);
  let store = null;
  let connected = false;
  const queue = [];
  const send = (ev) => store.dispatch({ type: 'WEB_CHAT/SEND_EVENT', payload: ev });

  (async () => {
    const WebChat = await loadWebChat();
    const conv = await api('POST', userPath(me, '/directline/token'), {}, { signal });
    if (signal.aborted) return;
    store = WebChat.createStore({}, () => (next) => (action) => {
      if (action.type === 'DIRECT_LINE/CONNECT_FULFILLED') {
        connected = true;
        box.dataset.state = 'connected';
        box.removeAttribute('aria-busy');
        status.textContent = 'Connected. Choose "Start conversation" on a notification, or say hello.';
        for (const ev of queue.splice(0)) setTimeout(() => send(ev));
      }
      return next(action);
    });
    const directLine = WebChat.createDirectLine({ domain: `${location.origin}/v3/directline`, token: conv.token });
    signal.addEventListener('abort', () => { try { directLine.end(); } catch { /* already closed */ } }, { once: true });
    WebChat.renderWebChat({
      directLine, store, userID: me, username: me, locale: navigator.language || 'en-US',
      styleOptions: { accent: '#1d4ed8', bubbleBorderRadius: 8, hideUploadButton: true, rootHeight: '100%' },
    }, box);
  })().catch((err) => {
    if (signal.aborted) return;
    box.dataset.state = 'unavailable';
    box.removeAttribute('aria-busy');
    status.textContent = `The assistant is not available: ${err.message}`;
  });

  return {
    el,
    // start opens the assistant's dialog about a notification.
    start(it, action) {
      const ev = { name: 'herald.startConversation', value: { eventId: it.eventId, action: action?.id } };
      if (connected) send(ev); else queue.push(ev);
      document.getElementById('assistant')?.scrollIntoView({ behavior: 'smooth', block: 'start' });
      box.querySelector('[data-id="webchat-sendbox-input"]')?.focus({ preventScroll: true });
      if (!store) toast('Opening the assistant...');
    },
  };
}

// ---- browser notifications (Web Push) ------------------------------------

const DEVICE = 'herald.webpushDevice';

function pushOptIn(me, signal) {
  const el = h('div', {}, h('p', { class: 'muted' }, 'Checking...'));
  const supported = 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
  api('GET', '/v1/webpush/vapid', undefined, { signal }).then((v) => {
    if (!v.configured) return replace(el, h('p', { class: 'muted' }, 'Browser notifications are not set up on this herald.'));
    if (!supported) return replace(el, h('p', { class: 'muted' }, 'This browser cannot receive push notifications.'));
    draw(v.publicKey);
  }).catch((err) => replace(el, h('p', { class: 'error' }, err.message)));

  const draw = async (publicKey) => {
    const reg = await navigator.serviceWorker.getRegistration('/app/');
    const sub = reg ? await reg.pushManager.getSubscription() : null;
    const on = !!sub && localStorage.getItem(DEVICE + ':' + me);
    const btn = h('button', { type: 'button', class: on ? '' : 'primary' }, on ? 'Turn off for this browser' : 'Turn on browser notifications');
    const msg = h('p', { class: 'small muted', role: 'status' }, on ? 'On for this browser.' : 'Off for this browser.');
    btn.addEventListener('click', async () => {
      btn.disabled = true;
      try {
        if (on) await unsubscribe(me, sub); else await subscribe(me, publicKey);
        await draw(publicKey);
      } catch (err) {
        msg.textContent = `Could not change it: ${err.message}`;
        btn.disabled = false;
      }
    });
    replace(el, msg, btn);
  };
  return el;
}

// subscribe registers the service worker, subscribes with the VAPID key and
// registers the subscription as the person's webpush device.
export async function subscribe(me, publicKey) {
  if (await Notification.requestPermission() !== 'granted') throw new Error('notifications are blocked for this site');
  const reg = await navigator.serviceWorker.register('/app/sw.js', { scope: '/app/' });
  await navigator.serviceWorker.ready;
  const sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: base64url(publicKey) });
  const device = await api('POST', userPath(me, '/devices'), { platform: 'webpush', subscription: sub.toJSON(), tags: ['browser'] });
  localStorage.setItem(DEVICE + ':' + me, device.id);
  toast('Browser notifications are on.');
}

async function unsubscribe(me, sub) {
  const id = localStorage.getItem(DEVICE + ':' + me);
  if (id) await api('DELETE', userPath(me, `/devices/${encodeURIComponent(id)}`)).catch(() => {});
  localStorage.removeItem(DEVICE + ':' + me);
  await sub?.unsubscribe();
  toast('Browser notifications are off.');
}

// base64url decodes a VAPID key into the bytes PushManager wants.
export function base64url(s) {
  const b = atob(s.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (s.length % 4)) % 4));
  return Uint8Array.from(b, (c) => c.charCodeAt(0));
}
