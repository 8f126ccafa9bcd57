// A person's preferences as switches: one per channel, one per category
// (those already set and those seen in the inbox), and quiet hours. Each
// change is saved at once with PATCH, which merges categories key by key.
import { h, replace, toast, uid } from './dom.js';
import { api, userPath } from './api.js';

const CHANNELS = [
  ['sendNotificationToInbox', 'Inbox (this page)'],
  ['sendNotificationToConversation', 'Assistant conversations (Teams, Web Chat)'],
  ['sendNotificationToMobileDevice', 'Phone notifications'],
  ['sendNotificationToWebPush', 'Browser notifications'],
];

export function prefsEditor(userId, signal) {
  const el = h('div', { 'aria-busy': 'true' }, h('p', { class: 'muted' }, 'Loading preferences...'));
  const categories = new Set();
  let prefs = null;
  let catBox = null;

  const save = async (patch, what) => {
    try {
      prefs = await api('PATCH', userPath(userId, '/preferences'), patch);
      toast(`Saved: ${what}.`);
      el.dispatchEvent(new CustomEvent('saved', { detail: prefs }));
    } catch (err) {
      toast(`Not saved: ${err.message}`);
      draw();
    }
  };

  const sw = (label, checked, onChange, attrs = {}) => {
    const input = h('input', { type: 'checkbox', role: 'switch', checked, ...attrs });
    input.addEventListener('change', () => onChange(input.checked));
    const id = uid('sw');
    input.id = id;
    return h('div', { class: 'switch' }, h('label', { for: id, class: 'inline' }, label), input);
  };

  const drawCategories = () => {
    if (!catBox || !prefs) return;
    const names = [...new Set([...Object.keys(prefs.categories || {}), ...categories])].sort();
    replace(catBox, names.length
      ? names.map((c) => sw(c, prefs.categories?.[c] !== false, (on) => save({ categories: { [c]: on } }, `${c} ${on ? 'on' : 'off'}`), { 'data-category': c }))
      : h('p', { class: 'muted small' }, 'Categories appear here as notifications arrive.'));
  };

  const draw = () => {
    if (!prefs) return;
    catBox = h('div', {});
    const qh = prefs.quietHours;
    const qOn = h('input', { type: 'checkbox', checked: !!qh, id: uid('q') });
    const qStart = h('input', { type: 'time', value: qh?.start || '22:00', id: uid('q') });
    const qEnd = h('input', { type: 'time', value: qh?.end || '07:00', id: uid('q') });
    const tz = h('input', { type: 'text', value: prefs.timeZone || 'UTC', id: uid('q'), spellcheck: 'false' });
    const saveQuiet = () => save({ quietHours: qOn.checked ? { start: qStart.value, end: qEnd.value } : null, timeZone: tz.value.trim() || 'UTC' }, 'quiet hours');
    qOn.addEventListener('change', saveQuiet);
    for (const i of [qStart, qEnd, tz]) i.addEventListener('change', () => qOn.checked && saveQuiet());
    const browserTZ = Intl.DateTimeFormat().resolvedOptions().timeZone;
    replace(el,
      h('fieldset', {}, h('legend', {}, 'Channels'),
        CHANNELS.map(([k, label]) => sw(label, prefs[k] !== false, (on) => save({ [k]: on }, `${label} ${on ? 'on' : 'off'}`), { 'data-channel': k }))),
      h('fieldset', {}, h('legend', {}, 'Categories'), catBox),
      h('fieldset', {}, h('legend', {}, 'Quiet hours'),
        h('p', { class: 'hint' }, 'Assistant, phone and browser notifications wait until the end; the inbox never does.'),
        h('label', { class: 'inline', for: qOn.id }, qOn, 'Quiet hours on'),
        h('div', { class: 'row' },
          h('div', {}, h('label', { for: qStart.id }, 'From'), qStart),
          h('div', {}, h('label', { for: qEnd.id }, 'Until'), qEnd),
          h('div', {}, h('label', { for: tz.id }, 'Time zone'), tz)),
        browserTZ && browserTZ !== prefs.timeZone
          ? h('button', { type: 'button', onclick: () => { tz.value = browserTZ; saveQuiet(); } }, `Use this browser's time zone (${browserTZ})`) : null));
    el.removeAttribute('aria-busy');
    drawCategories();
  };

  api('GET', userPath(userId, '/preferences'), undefined, { signal }).then((p) => { prefs = p; draw(); })
    .catch((err) => replace(el, h('p', { class: 'error' }, `Preferences unavailable: ${err.message}`)));

  return {
    el,
    // addCategory offers a switch for a category seen in the inbox.
    addCategory(name) {
      if (!name || categories.has(name)) return;
      categories.add(name);
      drawCategories();
    },
  };
}
