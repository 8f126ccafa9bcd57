// The operator console: live dashboard, event explorer, dead letters,
// compose, users. Every view takes (rest of the route, abort signal) and
// returns its element; polling stops when the signal aborts.
import { h, replace, field, toast, when, fmt, uid } from './dom.js';
import { api, userPath, ApiError } from './api.js';
import { LineChart } from './chart.js';
import { prefsEditor } from './prefs.js';

// every runs f now and then every ms until signal aborts; f's errors are
// shown by show (or dropped).
function every(ms, signal, f) {
  let timer;
  const tick = async () => {
    if (signal.aborted) return;
    try { await f(); } catch { /* the view shows its own errors */ }
    if (!signal.aborted) timer = setTimeout(tick, ms);
  };
  signal.addEventListener('abort', () => clearTimeout(timer), { once: true });
  tick();
}

const FAILURES = ['failed', 'dead_lettered', 'retrying', 'unreachable'];

// ---- dashboard ----------------------------------------------------------

export function dashboard(_rest, signal) {
  const tiles = h('div', { class: 'tiles', 'aria-live': 'off' });
  const events = new LineChart('Events ingested per second', '/s');
  const deliveries = new LineChart('Deliveries per second, by channel', '/s');
  const failures = new LineChart('Failures per second, by channel', '/s');
  const lag = new LineChart('Hub lag (messages not yet settled)');
  const note = h('p', { class: 'hint' }, 'Counters of the herald process serving this page, read every second.');
  const problem = h('p', { class: 'error', role: 'alert' });
  let prev = null;
  every(1000, signal, async () => {
    let s;
    try {
      s = await api('GET', '/v1/stats', undefined, { signal });
      problem.textContent = '';
    } catch (err) {
      if (!signal.aborted) problem.textContent = `Stats unavailable: ${err.message}`;
      return;
    }
    const t = new Date(s.at).getTime() / 1000;
    const deliveredBy = {}, failedBy = {};
    let deliveredAll = 0, failedAll = 0;
    for (const [ch, outcomes] of Object.entries(s.deliveries || {})) {
      deliveredBy[ch] = outcomes.delivered || 0;
      failedBy[ch] = FAILURES.reduce((n, o) => n + (outcomes[o] || 0), 0);
    }
    if (prev) {
      const dt = Math.max(0.001, t - prev.t);
      const rate = (now, before) => Math.max(0, (now - (before || 0)) / dt);
      const evRate = rate(s.eventsIngested, prev.s.eventsIngested);
      const dRates = {}, fRates = {};
      for (const ch of Object.keys(deliveredBy)) {
        dRates[ch] = rate(deliveredBy[ch], prev.deliveredBy[ch]);
        fRates[ch] = rate(failedBy[ch], prev.failedBy[ch]);
        deliveredAll += dRates[ch];
        failedAll += fRates[ch];
      }
      events.push({ events: evRate });
      deliveries.push(Object.keys(dRates).length ? dRates : { inbox: 0 });
      failures.push(Object.keys(fRates).length ? fRates : { all: 0 });
      lag.push({ events: s.hubLag?.events ?? 0, deliveries: s.hubLag?.deliveries ?? 0 });
      replace(tiles,
        tile('Events/s', fmt(evRate)), tile('Deliveries/s', fmt(deliveredAll)), tile('Failures/s', fmt(failedAll)),
        tile('Hub lag', fmt((s.hubLag?.events ?? 0) + (s.hubLag?.deliveries ?? 0))),
        tile('Events since start', fmt(s.eventsIngested)), tile('Dead letters', fmt(s.deadLetters)));
    }
    prev = { t, s, deliveredBy, failedBy };
  });
  return h('div', {}, h('h1', {}, 'Dashboard'), problem, tiles,
    h('div', { class: 'grid' }, events.el, deliveries.el, failures.el, lag.el), note);
}

const tile = (k, v) => h('div', { class: 'tile' }, h('div', { class: 'v' }, v), h('div', { class: 'k' }, k));

// ---- events -------------------------------------------------------------

const RECENT = 'herald.recentEvents';
export function rememberEvent(e) {
  const list = recentEvents().filter((x) => x.id !== e.id);
  list.unshift(e);
  localStorage.setItem(RECENT, JSON.stringify(list.slice(0, 50)));
}
function recentEvents() {
  try { return JSON.parse(localStorage.getItem(RECENT)) || []; } catch { return []; }
}

export function events(rest, signal) {
  if (rest) return eventDetail(rest, signal);
  const q = h('input', { type: 'search', placeholder: 'event id', spellcheck: 'false' });
  const form = h('form', { class: 'panel', role: 'search' },
    field('Find an event by id', q, "herald's event id: the 'id' of POST /v1/events' answer, or the eventId of a notification."),
    h('button', { class: 'primary', type: 'submit' }, 'Show status'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    if (q.value.trim()) location.hash = `#/console/events/${encodeURIComponent(q.value.trim())}`;
  });
  // By the producer's (source, id): herald's id is derived from them
  // (event.IDFor: the first 16 bytes of SHA-256 of source, NUL, id).
  const src = h('input', { type: 'text', placeholder: 'urn:example:hr', spellcheck: 'false' });
  const srcId = h('input', { type: 'text', placeholder: 'training-42', spellcheck: 'false' });
  const byProducer = h('form', { class: 'panel', role: 'search', 'aria-label': 'Find by source and id' },
    h('div', { class: 'grid' }, field('CloudEvent source', src), field('CloudEvent id', srcId)),
    h('button', { type: 'submit' }, 'Show status'));
  byProducer.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!src.value.trim() || !srcId.value.trim()) return;
    if (!crypto.subtle) { toast('Finding by source needs the page over HTTPS (or localhost).'); return; }
    const bytes = new TextEncoder().encode(`${src.value.trim()}\0${srcId.value.trim()}`);
    const sum = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes)).slice(0, 16);
    location.hash = `#/console/events/${[...sum].map((b) => b.toString(16).padStart(2, '0')).join('')}`;
  });
  const list = recentEvents();
  const table = list.length
    ? h('div', { class: 'table-wrap' }, h('table', {},
      h('thead', {}, h('tr', {}, h('th', {}, 'Sent'), h('th', {}, 'Title'), h('th', {}, 'Audience'), h('th', {}, 'Event'))),
      h('tbody', {}, list.map((e) => h('tr', {},
        h('td', {}, when(e.at)), h('td', {}, e.title || '(no title)'), h('td', {}, e.audience || ''),
        h('td', {}, h('a', { href: `#/console/events/${encodeURIComponent(e.id)}` }, h('code', {}, e.id))))))))
    : h('p', { class: 'muted' }, 'Nothing sent from this browser yet. Compose a notification, or find one by id.');
  return h('div', {}, h('h1', {}, 'Events'), h('div', { class: 'cols' }, form, byProducer),
    h('section', { class: 'panel' }, h('h2', {}, 'Sent from this console'), table));
}

function eventDetail(id, signal) {
  const known = recentEvents().find((e) => e.id === id);
  const head = h('div', {});
  const progress = h('section', { class: 'panel', 'aria-labelledby': 'prog-h' });
  const channels = h('section', { class: 'panel' });
  const recipients = h('section', { class: 'panel' });
  const problem = h('p', { class: 'error', role: 'alert' });
  const filterUser = h('input', { type: 'search', placeholder: 'user id' });
  const filterChannel = h('select', {}, h('option', { value: '' }, 'all channels'));
  const filterOutcome = h('select', {}, h('option', { value: '' }, 'all outcomes'));
  const rows = h('tbody', {});
  let last = null;
  const samples = []; // [{t, done}] for the finish estimate

  const drawRecipients = () => {
    if (!last) return;
    const u = filterUser.value.trim().toLowerCase(), c = filterChannel.value, o = filterOutcome.value;
    const shown = last.recipients.filter((r) => (!u || r.userId.toLowerCase().includes(u)) && (!c || r.channel === c) && (!o || r.outcome === o));
    replace(rows, shown.length ? shown.map((r) => h('tr', {},
      h('td', {}, r.userId), h('td', {}, r.channel), h('td', {}, h('span', { class: `pill o-${r.outcome}` }, r.outcome)),
      h('td', {}, r.reason || ''), h('td', {}, r.attempts || ''), h('td', {}, when(r.at))))
      : h('tr', {}, h('td', { colspan: 6, class: 'muted' }, 'No recipient records match.')));
  };
  for (const el of [filterUser, filterChannel, filterOutcome]) el.addEventListener('input', drawRecipients);
  replace(recipients, h('h2', {}, 'Per recipient'),
    h('div', { class: 'row' }, h('label', { class: 'inline' }, 'Person ', filterUser),
      h('label', { class: 'inline' }, 'Channel ', filterChannel), h('label', { class: 'inline' }, 'Outcome ', filterOutcome)),
    h('p', { class: 'hint' }, 'Per-recipient records; a broadcast keeps them only for deliveries made by channel workers (its counters are above).'),
    h('div', { class: 'table-wrap' }, h('table', {}, h('thead', {}, h('tr', {},
      ['Person', 'Channel', 'Outcome', 'Why', 'Attempts', 'At'].map((t) => h('th', { scope: 'col' }, t)))), rows)));

  const render = (st) => {
    const done = st.targeted - st.pending;
    const now = Date.now() / 1000;
    samples.push({ t: now, done });
    while (samples.length > 1 && now - samples[0].t > 10) samples.shift();
    const running = st.broadcast?.state === 'running';
    const active = st.state === 'delivering';
    replace(head,
      h('h1', {}, known?.title ? `Event: ${known.title}` : 'Event'),
      h('p', {}, h('code', {}, st.id), ' ', h('span', { class: 'pill', 'data-state': st.state, 'data-event-id': st.id }, st.state),
        ' ', h('span', { class: 'muted small' }, `${st.type} from ${st.source} (id `, h('code', { 'data-source-id': st.sourceId }, st.sourceId), `); received ${when(st.receivedAt)}`)),
      running ? h('button', { class: 'danger', type: 'button', onclick: cancel }, 'Cancel broadcast') : null);

    let eta = '';
    if (active) {
      const first = samples[0], lastS = samples[samples.length - 1];
      const rate = lastS.t > first.t ? (lastS.done - first.done) / (lastS.t - first.t) : 0;
      const preds = Object.entries(st.predictions || {});
      if (preds.length) {
        eta = preds.map(([ch, p]) => `${ch}: ${fmt(p.pending)} left at ${fmt(p.perSecond)}/s, last recipient by ${when(p.lastRecipientBy)} (about ${fmtDuration(p.seconds)})`).join('; ');
      } else if (rate > 0 && st.pending > 0) {
        eta = `About ${fmtDuration(st.pending / rate)} to finish at ${fmt(rate)} deliveries/s.`;
      } else {
        eta = 'Estimating time to finish...';
      }
    }
    const label = running
      ? `Broadcast running: ${fmt(st.broadcast.recipients)} people so far; ${fmt(done)} of ${fmt(st.targeted)} deliveries settled`
      : `${fmt(done)} of ${fmt(st.targeted)} deliveries settled`;
    replace(progress, h('h2', { id: 'prog-h' }, 'Progress'),
      h('progress', { max: Math.max(1, st.targeted), value: done, 'aria-label': 'Deliveries settled' }),
      h('p', { 'aria-live': 'polite' }, label, st.state === 'completed' ? ' (completed).' : '.'),
      eta ? h('p', { class: 'muted' }, eta) : null,
      st.deliverAt ? h('p', { class: 'muted' }, `Scheduled: delivered from ${when(st.deliverAt)}.`) : null);

    const outcomeNames = new Set();
    for (const c of Object.values(st.channels || {})) for (const o of Object.keys(c.outcomes || {})) outcomeNames.add(o);
    const names = [...outcomeNames].sort();
    replace(channels, h('h2', {}, 'Per channel'), h('div', { class: 'table-wrap' }, h('table', {},
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Channel'), h('th', { scope: 'col' }, 'Targeted'), h('th', { scope: 'col' }, 'Pending'),
        names.map((n) => h('th', { scope: 'col' }, h('span', { class: `o-${n}` }, n))))),
      h('tbody', {}, Object.entries(st.channels || {}).sort().map(([ch, c]) => h('tr', { 'data-channel': ch },
        h('th', { scope: 'row' }, ch), h('td', {}, fmt(c.targeted)), h('td', {}, fmt(c.pending)),
        names.map((n) => h('td', { 'data-outcome': n }, c.outcomes?.[n] ? fmt(c.outcomes[n]) : ''))))))));

    for (const [sel, values] of [[filterChannel, Object.keys(st.channels || {})], [filterOutcome, names]]) {
      const have = new Set([...sel.options].map((o) => o.value));
      for (const v of values.sort()) if (!have.has(v)) sel.append(h('option', { value: v }, v));
    }
    drawRecipients();
  };

  async function cancel() {
    if (!confirm('Cancel this broadcast? People not reached yet will not get it.')) return;
    try { render(last = await api('DELETE', `/v1/events/${encodeURIComponent(id)}`)); toast('Broadcast cancelled.'); } catch (err) { toast(err.message); }
  }

  let first = true;
  every(1000, signal, async () => {
    // Settled events stop changing; delivering and scheduled ones are watched.
    if (last && !['delivering', 'scheduled'].includes(last.state) && !first) return;
    try {
      const st = await api('GET', `/v1/events/${encodeURIComponent(id)}?recipients=500${first ? '&wait=10s' : ''}`, undefined, { signal });
      first = false;
      problem.textContent = '';
      last = st;
      render(st);
    } catch (err) {
      if (signal.aborted) return;
      problem.textContent = err instanceof ApiError && err.status === 404
        ? 'This event has not been planned: it may still be queued, or the id is wrong.'
        : err.message;
      if (first) throw err;
    }
  });
  replace(head, h('h1', {}, 'Event'), h('p', {}, h('code', {}, id), ' loading...'));
  return h('div', {}, h('p', {}, h('a', { href: '#/console/events' }, '← Events')), head, problem, progress, channels, recipients);
}

function fmtDuration(s) {
  s = Math.max(0, Math.round(s));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

// ---- dead letters -------------------------------------------------------

export function deadLetters(_rest, signal) {
  const body = h('div', {});
  const load = async () => {
    const doc = await api('GET', '/v1/deadletters?limit=200', undefined, { signal });
    const list = doc.deadLetters || [];
    replace(body, list.length ? h('div', { class: 'table-wrap' }, h('table', {},
      h('thead', {}, h('tr', {}, ['Seq', 'Topic', 'Key', 'Reason', 'Attempts', 'At', ''].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, list.map((d) => h('tr', {},
        h('td', {}, d.seq), h('td', {}, d.topic), h('td', {}, h('code', {}, d.key || '')), h('td', {}, d.reason),
        h('td', {}, d.attempts), h('td', {}, when(d.at)),
        h('td', {}, h('button', { type: 'button', onclick: () => replay(d.seq), 'aria-label': `Replay dead letter ${d.seq}` }, 'Replay')))))))
      : h('p', { class: 'muted' }, 'No dead letters: nothing was given up on.'));
  };
  async function replay(seq) {
    try {
      await api('POST', `/v1/deadletters/${seq}/replay`);
      toast(`Dead letter ${seq} sent back; it stays listed.`);
    } catch (err) { toast(`Replay failed: ${err.message}`); }
  }
  load().catch((err) => replace(body, h('p', { class: 'error', role: 'alert' }, err.message)));
  return h('div', {}, h('h1', {}, 'Dead letters'),
    h('p', { class: 'muted' }, 'What the hub gave up on after its attempts. Replaying is safe to repeat: what was delivered is not sent again.'),
    h('section', { class: 'panel' }, body), h('button', { type: 'button', onclick: () => load() }, 'Refresh'));
}

// ---- compose ------------------------------------------------------------

export function compose(_rest, signal) {
  const kind = uid('aud');
  const radios = ['user', 'topic', 'all'].map((v, i) => h('input', { type: 'radio', name: kind, value: v, checked: i === 0 }));
  const users = h('input', { type: 'text', placeholder: 'ada, grace', spellcheck: 'false' });
  const topicsList = h('datalist', { id: uid('topics') });
  const topic = h('input', { type: 'text', list: topicsList.id, spellcheck: 'false' });
  const exclude = h('input', { type: 'text', placeholder: 'contractors', spellcheck: 'false' });
  const title = h('input', { type: 'text', maxlength: 256 });
  const message = h('textarea', { maxlength: 4000, required: true });
  const category = h('input', { type: 'text', pattern: '[a-z0-9][a-z0-9._-]{0,63}', spellcheck: 'false' });
  const urgency = h('select', {}, ['normal', 'low', 'high'].map((u) => h('option', { value: u }, u)));
  const start = h('input', { type: 'checkbox', checked: true });
  const linkTitle = h('input', { type: 'text' });
  const linkURL = h('input', { type: 'url', placeholder: 'https://' });
  const problem = h('div', { class: 'error', role: 'alert' });
  const previews = h('div', {});
  const sendBtn = h('button', { class: 'primary', type: 'submit' }, 'Send');

  api('GET', '/v1/topics', undefined, { signal }).then((doc) => {
    for (const t of doc.topics || []) topicsList.append(h('option', { value: t.name }, `${t.name} (${t.members ?? 0})`));
  }).catch(() => {});

  const audienceKind = () => radios.find((r) => r.checked).value;
  const split = (s) => s.split(/[\s,]+/).map((x) => x.trim()).filter(Boolean);
  const notification = () => {
    const n = { message: message.value.trim(), urgency: urgency.value };
    if (title.value.trim()) n.title = title.value.trim();
    if (category.value.trim()) n.category = category.value.trim();
    const actions = [];
    if (start.checked) actions.push({ id: 'startConversation', title: 'Start conversation' });
    if (linkTitle.value.trim() && linkURL.value.trim()) actions.push({ id: 'link', title: linkTitle.value.trim(), url: linkURL.value.trim() });
    if (actions.length) n.actions = actions;
    return n;
  };
  const audience = () => {
    const k = audienceKind();
    const a = k === 'user' ? { users: split(users.value) } : k === 'topic' ? { topics: split(topic.value) } : { all: true };
    const ex = split(exclude.value);
    if (k !== 'user' && ex.length) a.exclude = { topics: ex };
    return a;
  };
  const describe = (a) => a.all ? 'everyone' : a.users ? a.users.join(', ') : `topic ${a.topics.join(', ')}`;

  const drawPreview = () => {
    const n = notification();
    const t = n.title || '', m = n.message || '(message)';
    const acts = n.actions || [];
    replace(previews,
      h('div', { class: 'preview' }, h('h3', {}, 'Inbox'), h('div', { class: 'card' },
        h('div', { class: 'title' }, t), h('div', {}, m),
        h('div', { class: 'small muted' }, [n.category && `category ${n.category}`, n.urgency !== 'normal' && `${n.urgency} urgency`].filter(Boolean).join(' · ')),
        acts.length ? h('div', { class: 'actions row' }, acts.map((x) => h('button', { type: 'button', disabled: true }, x.title))) : null)),
      h('div', { class: 'preview' }, h('h3', {}, 'Conversation (Teams, Web Chat)'), h('div', { class: 'card' },
        h('div', { class: 'title' }, t), h('div', {}, m),
        acts.length ? h('div', { class: 'actions row' }, acts.map((x) => h('button', { type: 'button', disabled: true }, x.title))) : null),
        h('p', { class: 'hint' }, 'An Adaptive Card; a link becomes Open URL, other actions come back to the assistant.')),
      h('div', { class: 'preview' }, h('h3', {}, 'Mobile push (APNs, FCM)'), h('div', { class: 'push-banner' },
        h('strong', {}, t || 'herald'), h('div', {}, m.length > 178 ? m.slice(0, 177) + '…' : m))),
      h('div', { class: 'preview' }, h('h3', {}, 'Browser (Web Push)'), h('div', { class: 'card' },
        h('strong', {}, t || 'herald'), h('div', { class: 'small' }, m.length > 120 ? m.slice(0, 119) + '…' : m),
        h('div', { class: 'small muted' }, location.host))));
  };

  const form = h('form', { class: 'panel', novalidate: true },
    h('fieldset', {}, h('legend', {}, 'To'),
      h('div', { class: 'row' },
        h('label', { class: 'inline' }, radios[0], 'People'), h('label', { class: 'inline' }, radios[1], 'A topic'),
        h('label', { class: 'inline' }, radios[2], 'Everyone')),
      field('User ids', users, 'Separated by commas or spaces; at most 1,000.'),
      field('Topic', topic), topicsList,
      field('Leave out topics (topic or everyone)', exclude)),
    field('Title', title), field('Message', message, 'Required; at most 4,000 characters.'),
    h('div', { class: 'grid' }, field('Category', category, 'People can switch a category off, e.g. training.'), field('Urgency', urgency)),
    h('fieldset', {}, h('legend', {}, 'Actions'),
      h('label', { class: 'inline' }, start, '"Start conversation" (opens the assistant about this notification)'),
      h('div', { class: 'grid' }, field('Link title', linkTitle), field('Link URL', linkURL))),
    problem, sendBtn);
  form.addEventListener('input', drawPreview);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    problem.textContent = '';
    const aud = audience();
    const n = notification();
    if (!n.message) { problem.textContent = 'Write a message.'; message.focus(); return; }
    if (aud.users && !aud.users.length) { problem.textContent = 'Name at least one person.'; users.focus(); return; }
    if (aud.topics && !aud.topics.length) { problem.textContent = 'Name a topic.'; topic.focus(); return; }
    const ce = {
      specversion: '1.0', id: crypto.randomUUID(), source: 'urn:herald:console', type: 'com.herald.console.notification',
      time: new Date().toISOString(), data: { audience: aud, notification: n },
    };
    sendBtn.disabled = true;
    try {
      const doc = await api('POST', '/v1/events', JSON.stringify(ce), { headers: { 'Content-Type': 'application/cloudevents+json' } });
      const id = doc.accepted[0].id;
      rememberEvent({ id, title: n.title || n.message.slice(0, 60), audience: describe(aud), at: new Date().toISOString() });
      toast('Accepted; showing its delivery status.');
      location.hash = `#/console/events/${encodeURIComponent(id)}`;
    } catch (err) {
      problem.replaceChildren(h('p', {}, `Not sent: ${err.message}`),
        err.fields?.length ? h('ul', {}, err.fields.map((f) => h('li', {}, `${f.field}: ${f.problem}`))) : '');
    } finally { sendBtn.disabled = false; }
  });
  drawPreview();
  return h('div', {}, h('h1', {}, 'Compose'),
    h('div', { class: 'cols' }, form, h('section', { class: 'panel', 'aria-labelledby': 'pv-h' }, h('h2', { id: 'pv-h' }, 'Preview per channel'), previews)));
}

// ---- users --------------------------------------------------------------

export function users(rest, signal) {
  const q = h('input', { type: 'search', value: rest || '', spellcheck: 'false' });
  const form = h('form', { class: 'panel', role: 'search' }, field('User id', q), h('button', { class: 'primary', type: 'submit' }, 'Open'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    if (q.value.trim()) location.hash = `#/console/users/${encodeURIComponent(q.value.trim())}`;
  });
  const out = h('div', {}, h('h1', {}, 'Users'), form);
  if (rest) out.append(userDetail(rest, signal));
  return out;
}

function userDetail(id, signal) {
  const prefs = prefsEditor(id, signal);
  const devices = h('div', {}), convs = h('div', {}), inbox = h('div', {});
  const session = h('div', {});
  const fail = (el) => (err) => replace(el, h('p', { class: 'error' }, err.message));
  api('GET', userPath(id, '/devices'), undefined, { signal }).then((d) => replace(devices, table(d.devices,
    ['platform', 'state', 'token', 'endpoint', 'retiredReason'], 'No devices.'))).catch(fail(devices));
  api('GET', userPath(id, '/conversations'), undefined, { signal }).then((d) => replace(convs, table(d.conversations,
    ['channelId', 'state', 'conversationId', 'updatedAt', 'retiredReason'], 'No conversations with the assistant.'))).catch(fail(convs));
  api('GET', userPath(id, '/notifications?limit=50'), undefined, { signal }).then((d) => replace(inbox,
    h('p', {}, `${d.unread} unread.`),
    table(d.notifications.map((n) => ({ ...n, event: n.eventId, read: n.readAt ? when(n.readAt) : 'unread' })),
      ['title', 'message', 'category', 'read', 'createdAt', 'event'], 'The inbox is empty.', { event: (v) => h('a', { href: `#/console/events/${encodeURIComponent(v)}` }, h('code', {}, v)) }))).catch(fail(inbox));

  const mint = h('button', { type: 'button' }, 'Open their notification center');
  mint.addEventListener('click', async () => {
    try {
      const s = await api('POST', userPath(id, '/session'), { ttlSeconds: 3600 });
      replace(session, h('p', {}, h('a', { href: `/#/me?session=${encodeURIComponent(s.token)}`, target: '_blank', rel: 'noopener noreferrer', id: 'session-link' },
        `Open ${id}'s notification center`), h('span', { class: 'muted small' }, ` (a session for ${id} until ${when(s.expiresAt)}; it reaches only ${id}'s inbox, preferences and devices)`)));
      session.querySelector('a').focus();
    } catch (err) { replace(session, h('p', { class: 'error' }, err.message)); }
  });
  return h('div', {},
    h('section', { class: 'panel' }, h('h2', {}, `Person: ${id}`), h('div', { class: 'row' }, mint), session),
    h('div', { class: 'cols' },
      h('section', { class: 'panel' }, h('h2', {}, 'Inbox'), inbox),
      h('div', {}, h('section', { class: 'panel' }, h('h2', {}, 'Preferences'), prefs.el),
        h('section', { class: 'panel' }, h('h2', {}, 'Devices'), devices),
        h('section', { class: 'panel' }, h('h2', {}, 'Conversations'), convs))));
}

function table(items, cols, empty, render = {}) {
  if (!items?.length) return h('p', { class: 'muted' }, empty);
  return h('div', { class: 'table-wrap' }, h('table', {},
    h('thead', {}, h('tr', {}, cols.map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, items.map((it) => h('tr', {}, cols.map((c) => h('td', {}, it[c] == null ? '' : render[c] ? render[c](it[c]) : /At$/.test(c) ? when(it[c]) : String(it[c]))))))));
}
