// Customer context in the console: what the business's context service
// (parley serve --context-url) says about a session's customer, pushed as
// customer_context frames after assigned. Shown in the customer pane as
// text only.

import { h } from './dom.js';

const contexts = new Map(); // session id -> context object

/** setContext keeps a customer_context frame's context. */
export function setContext(f) {
  if (f && f.session_id && f.context && typeof f.context === 'object') contexts.set(f.session_id, f.context);
}

function show(v) {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** contextSection is the pane's "Context" section, or null without one. */
export function contextSection(sessionID) {
  const ctx = contexts.get(sessionID);
  if (!ctx) return null;
  const dl = h('dl', { className: 'kv', id: 'customer-context' });
  for (const [k, v] of Object.entries(ctx)) {
    if (Array.isArray(v)) {
      dl.appendChild(h('dt', null, k));
      dl.appendChild(h('dd', null, v.length ? h('ul', { className: 'ctx-list' }, v.map((x) => h('li', null, show(x)))) : '—'));
    } else {
      dl.appendChild(h('dt', null, k));
      dl.appendChild(h('dd', null, show(v)));
    }
  }
  return [h('h3', null, 'Context'), dl];
}
