// herald's web app: a hash router over the operator console and a person's
// notification center, and the sign-in page.
import { h, replace, field, toast } from './dom.js';
import { credential, signIn } from './api.js';
import * as consoleViews from './console.js';
import { notificationCenter } from './center.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const who = document.getElementById('who');
let cleanup = null;

const isOperator = (c) => c && c.role === 'admin';
const isPerson = (c) => c && c.userId && (c.role === 'user' || c.role === 'reader' || c.role === 'admin');

const consoleRoutes = [
  ['#/console', 'Dashboard', consoleViews.dashboard],
  ['#/console/events', 'Events', consoleViews.events],
  ['#/console/deadletters', 'Dead letters', consoleViews.deadLetters],
  ['#/console/compose', 'Compose', consoleViews.compose],
  ['#/console/users', 'Users', consoleViews.users],
];

function renderChrome(c, hash) {
  const links = [];
  if (isOperator(c)) {
    for (const [href, label] of consoleRoutes) {
      const current = href === '#/console' ? hash === href : hash === href || hash.startsWith(href + '/');
      links.push(h('a', { href, 'aria-current': current ? 'page' : false }, label));
    }
  } else if (isPerson(c)) {
    links.push(h('a', { href: '#/me', 'aria-current': hash.startsWith('#/me') ? 'page' : false }, 'Notifications'));
  }
  replace(nav, links);
  if (!c) {
    replace(who);
    return;
  }
  const name = c.role === 'user' ? c.userId : `${c.role} key${c.userId ? ` as ${c.userId}` : ''}`;
  replace(who, h('span', {}, 'Signed in: ', h('strong', {}, name)),
    h('button', { type: 'button', onclick: signOut }, 'Sign out'));
}

function signOut() {
  credential.clear();
  location.hash = '#/signin';
}

window.addEventListener('herald:unauthenticated', () => {
  credential.clear();
  toast('Your sign-in is no longer valid; sign in again.');
  location.hash = '#/signin';
});

async function route() {
  if (cleanup) { try { cleanup(); } catch { /* a view's teardown must not stop routing */ } cleanup = null; }
  let hash = location.hash || '#/';
  // #/me?session=hus_... : a session handed over by the console or an
  // intranet page. Keep it in this tab only and drop it from the URL.
  const m = hash.match(/^#\/me\?session=([^&]+)/);
  if (m) {
    history.replaceState(null, '', '#/me');
    hash = '#/me';
    try {
      await signIn(decodeURIComponent(m[1]));
    } catch (err) {
      credential.clear();
      renderChrome(null, hash);
      replace(main, signInPage(`That sign-in link did not work: ${err.message}`));
      return;
    }
  }
  const c = credential.get();
  renderChrome(c, hash);
  const ctl = new AbortController();
  let view;
  if (!c || hash === '#/signin') {
    view = () => signInPage();
  } else if (hash.startsWith('#/console') && isOperator(c)) {
    const found = [...consoleRoutes].reverse().find(([href]) => hash === href || hash.startsWith(href + '/'));
    const rest = found ? decodeURIComponent(hash.slice(found[0].length + 1)) : '';
    view = () => (found ? found[2] : consoleViews.dashboard)(rest, ctl.signal);
  } else if (hash.startsWith('#/me') && isPerson(c)) {
    view = () => notificationCenter(c, ctl.signal);
  } else {
    location.replace(isOperator(c) ? '#/console' : '#/me');
    return;
  }
  cleanup = () => ctl.abort();
  replace(main, view());
  main.focus({ preventScroll: true });
}

function signInPage(problem) {
  const err = h('p', { class: 'error', role: 'alert' }, problem || '');
  const key = h('input', { type: 'password', autocomplete: 'off', required: true, spellcheck: 'false' });
  const opForm = h('form', { class: 'panel', 'aria-labelledby': 'op-h' },
    h('h2', { id: 'op-h' }, 'Operators'),
    h('p', { class: 'muted' }, 'The console: live dashboard, events, dead letters, compose, users.'),
    field('Admin API key', key, "Create one with 'herald keys create --role admin'. It stays in this tab only."),
    h('p', {}, h('button', { class: 'primary', type: 'submit' }, 'Sign in to the console')));
  opForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const c = await signIn(key.value.trim());
      if (c.role !== 'admin') {
        credential.clear();
        throw new Error(`that key's role is ${c.role}; the console needs an admin key`);
      }
      go('#/console');
    } catch (e2) { err.textContent = `Sign-in failed: ${e2.message}`; }
  });

  const token = h('input', { type: 'password', autocomplete: 'off', spellcheck: 'false' });
  const user = h('input', { type: 'text', autocomplete: 'username', spellcheck: 'false' });
  const meForm = h('form', { class: 'panel', 'aria-labelledby': 'me-h' },
    h('h2', { id: 'me-h' }, 'People'),
    h('p', { class: 'muted' }, 'Your notification center: inbox, assistant, preferences, browser notifications.'),
    field('Session token or API key', token, 'A user session token (hus_...) from your organisation, or a reader key with your user id below.'),
    field('User id (with a reader key)', user),
    h('p', {}, h('button', { class: 'primary', type: 'submit' }, 'Open my notifications')));
  meForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const c = await signIn(token.value.trim());
      if (c.role !== 'user') {
        if (!user.value.trim()) { credential.clear(); throw new Error('with an API key, give the user id too'); }
        credential.set({ ...c, userId: user.value.trim() });
      }
      go('#/me');
    } catch (e2) { err.textContent = `Sign-in failed: ${e2.message}`; }
  });
  return h('div', { class: 'signin' }, h('h1', {}, 'Sign in to herald'), err, h('div', { class: 'grid' }, opForm, meForm));
}

// go navigates to hash, routing even when it is the current one.
function go(hash) {
  if (location.hash === hash) route(); else location.hash = hash;
}

window.addEventListener('hashchange', route);
route();
