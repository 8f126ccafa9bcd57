// Small DOM helpers. Text always goes in as text nodes, never as HTML, so
// nothing a notification or an API answer says can become markup.

// h builds an element: h('button', {class: 'primary', onclick: f}, 'Send').
// Attributes starting with "on" are listeners; false/null ones are left out.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'value') el.value = v;
    else if (k === 'checked' || k === 'selected' || k === 'disabled') el[k] = !!v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

// svg builds an SVG element.
export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  append(el, children);
  return el;
}

// replace swaps el's children for children.
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let toastTimer;
// toast says something in the polite live region for a few seconds.
export function toast(msg) {
  const t = document.getElementById('toast');
  t.textContent = msg;
  t.classList.add('show');
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => t.classList.remove('show'), 4000);
}

let nextId = 0;
// uid returns an id for label/for pairs.
export const uid = (p = 'f') => `${p}-${++nextId}`;

// field is a labelled input: field('Title', h('input', {...}), 'hint').
export function field(label, input, hint) {
  const id = input.id || uid();
  input.id = id;
  const hintEl = hint ? h('p', { class: 'hint', id: `${id}-hint` }, hint) : null;
  if (hintEl) input.setAttribute('aria-describedby', hintEl.id);
  return h('div', {}, h('label', { for: id }, label), input, hintEl);
}

// time formats an RFC 3339 time for people.
export function when(t) {
  if (!t) return '';
  const d = new Date(t);
  return isNaN(d) ? String(t) : d.toLocaleString();
}

// fmt formats a number with at most one decimal.
export const fmt = (n) => (Math.abs(n) >= 100 || Number.isInteger(n) ? Math.round(n).toLocaleString() : n.toFixed(1));
