// The Transfer action of an open chat: pick an available colleague with a
// free slot (from the agents command) or "back to the queue", add an
// optional note for the next agent (stored as a whisper), and send
// transfer. The button and the bar are built here, next to the chat's other
// buttons, so index.html stays as it is.

import { h, clear } from './dom.js';

const $ = (id) => document.getElementById(id);

let S = null;
let command = null;
let toast = null;

/**
 * initTransfer adds the Transfer button and its bar. state is the console
 * state, run(frame, until) sends a command and resolves with the answer
 * (null on failure, already reported), say(text) shows a toast.
 */
export function initTransfer(state, run, say) {
  S = state;
  command = run;
  toast = say;
  const leave = $('leave-btn');
  if (!leave || $('transfer-btn')) return;
  const btn = h('button', { id: 'transfer-btn', type: 'button', onclick: open }, 'Transfer');
  leave.parentNode.insertBefore(btn, leave);
  const bar = h('form', { id: 'transfer-bar', className: 'confirm-bar transfer-bar', hidden: true, 'aria-label': 'Transfer this chat' },
    h('label', { for: 'transfer-to' }, 'Transfer to'),
    h('select', { id: 'transfer-to' }),
    h('label', { for: 'transfer-note', className: 'sr-only' }, 'Note for the next agent'),
    h('input', { id: 'transfer-note', type: 'text', maxlength: '1000', placeholder: 'Note for the next agent (optional, agents only)' }),
    h('span', { className: 'spacer' }),
    h('button', { id: 'transfer-cancel', type: 'button', onclick: close }, 'Cancel'),
    h('button', { id: 'transfer-go', type: 'submit', className: 'primary solid' }, 'Transfer'));
  bar.addEventListener('submit', (ev) => { ev.preventDefault(); go(); });
  bar.addEventListener('keydown', (ev) => { if (ev.key === 'Escape') close(); });
  const confirm = $('end-confirm');
  confirm.parentNode.insertBefore(bar, confirm);
}

/** renderTransfer shows the button only on an open chat. */
export function renderTransfer(c) {
  const btn = $('transfer-btn');
  if (btn) btn.hidden = !c || !!c.closed;
  if (!c || c.closed) close();
}

function option(value, text, disabled) {
  return h('option', { value, disabled }, text);
}

function describe(a) {
  const load = `${a.active}/${a.capacity}`;
  if (a.status !== 'available') return `${a.name} (${a.status}, ${load})`;
  if (a.active >= a.capacity) return `${a.name} (full, ${load})`;
  return `${a.name} (${load})`;
}

async function open() {
  const c = S.chats.get(S.current);
  if (!c || c.closed) return;
  const sel = $('transfer-to');
  clear(sel);
  sel.appendChild(option('', 'Back to the queue', false));
  $('transfer-note').value = '';
  $('transfer-bar').hidden = false;
  $('end-confirm').hidden = true;
  sel.focus();
  const r = await command({ type: 'agents' }, 'agents');
  if (!r || $('transfer-bar').hidden) return;
  const me = S.agent && S.agent.id;
  const inChat = new Set((c.session.agents || []).map((a) => a.id));
  for (const a of r.agents || []) {
    if (a.id === me || inChat.has(a.id)) continue;
    sel.appendChild(option(a.id, describe(a), a.status !== 'available' || a.active >= a.capacity));
  }
}

function close() {
  const bar = $('transfer-bar');
  if (bar) bar.hidden = true;
}

async function go() {
  const c = S.chats.get(S.current);
  if (!c || c.closed) { close(); return; }
  const to = $('transfer-to').value;
  const note = $('transfer-note').value.trim();
  const frame = { type: 'transfer', session_id: c.id };
  if (to) frame.to_agent_id = to;
  if (note) frame.note = note;
  $('transfer-go').disabled = true;
  try {
    const r = await command(frame, 'event');
    if (!r) return; // refused: the toast says why, the bar stays open
    close();
    const target = r.event && r.event.to;
    toast(target ? `Transferred to ${target.name}.` : 'Sent back to the queue.');
  } finally {
    $('transfer-go').disabled = false;
  }
}
