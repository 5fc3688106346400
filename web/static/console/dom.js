// Small DOM helpers. Every string becomes a text node: nothing here parses
// HTML, so text from customers can never become markup.

/**
 * h creates an element. attrs sets properties (className, type, ...) and
 * attributes (names with a dash, aria-*, data-*, for, role); children are
 * nodes or strings (inserted as text), null and false are skipped.
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on') && typeof v === 'function') {
        el.addEventListener(k.slice(2), v);
      } else if (k === 'className' || k === 'textContent' || k === 'value' ||
                 k === 'type' || k === 'disabled' || k === 'checked' || k === 'hidden') {
        el[k] = v;
      } else {
        el.setAttribute(k, v === true ? '' : String(v));
      }
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

/** clear removes every child of el. */
export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

/** replace sets el's children to children. */
export function replace(el, ...children) {
  clear(el);
  append(el, children);
  return el;
}

const urlRe = /\bhttps?:\/\/[^\s<>"']+/gi;

/**
 * linkify returns a fragment with text as text nodes and http(s) URLs as
 * links that open in a new tab without a referrer.
 */
export function linkify(text) {
  const frag = document.createDocumentFragment();
  let last = 0;
  for (const m of text.matchAll(urlRe)) {
    let raw = m[0].replace(/[.,;:!?)\]]+$/, '');
    let url = null;
    try { url = new URL(raw); } catch { url = null; }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) continue;
    frag.appendChild(document.createTextNode(text.slice(last, m.index)));
    const a = document.createElement('a');
    a.href = url.href;
    a.target = '_blank';
    a.rel = 'noopener noreferrer';
    a.textContent = raw;
    frag.appendChild(a);
    last = m.index + raw.length;
  }
  frag.appendChild(document.createTextNode(text.slice(last)));
  return frag;
}

/** clock formats an RFC 3339 time as a local HH:MM. */
export function clock(at) {
  const d = new Date(at);
  if (Number.isNaN(d.getTime())) return '';
  return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

/** dateTime formats an RFC 3339 time as a short local date and time. */
export function dateTime(at) {
  const d = new Date(at);
  if (Number.isNaN(d.getTime())) return '';
  return d.toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' });
}

/** duration formats seconds as "45 s", "3 min 5 s" or "1 h 2 min". */
export function duration(s) {
  s = Math.max(0, Math.floor(s));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}
