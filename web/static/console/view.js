// Rendering of the console. Functions take the state and draw it; text from
// the server only ever goes in through text nodes (see dom.js).

import { h, clear, replace, linkify, clock, dateTime, duration } from './dom.js';
import { notifyEnabled, notifySupported } from './notify.js';
import { eventText, isWarning } from './eventtext.js';
import { renderTransfer } from './transfer.js';
import { contextSection } from './context.js';
import { fileEl } from './files.js';

const $ = (id) => document.getElementById(id);
let act = {};

/** bind gives the view the actions its buttons call. */
export function bind(actions) { act = actions; }

// ---------------------------------------------------------------- helpers

/** customerName is the best name for a chat's customer. */
export function customerName(c) {
  return c.profile?.name || c.session.customer?.name || c.profile?.email ||
    c.session.customer?.email || (isVisitor(c) ? 'Visitor' : c.session.customer?.id || 'Customer');
}

function isVisitor(c) {
  if (c.profile) return !!c.profile.visitor;
  return String(c.session.customer?.id || '').startsWith('v-');
}

function isMe(S, from) {
  return from && from.role === 'agent' && S.agent && from.id === S.agent.id;
}

function unread(c) {
  let n = 0;
  for (const e of c.events.values()) {
    if (e.seq > c.seen && (e.kind === 'message' || e.kind === 'file') && e.from?.role === 'customer') n++;
  }
  return n;
}

function lastMessage(c) {
  let best = null;
  for (const e of c.events.values()) if ((e.kind === 'message' || e.kind === 'file') && (!best || e.seq > best.seq)) best = e;
  return best;
}

/** formError shows msg (or hides the line when msg is empty). */
export function formError(id, msg) {
  const el = $(id);
  el.textContent = msg;
  el.hidden = !msg;
}

/** busy disables a button while its request runs. */
export function busy(id, on) {
  const el = $(id);
  el.disabled = on;
  el.classList.toggle('busy', on);
}

let toastTimer = 0;
/** toast shows a short message at the bottom of the page. */
export function toast(msg) {
  const el = $('toast');
  el.textContent = msg;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, 5000);
}

// ---------------------------------------------------------------- header

/** renderAll redraws everything. */
export function renderAll(S) {
  renderConn(S);
  renderStatus(S);
  renderQueue(S);
  renderChats(S);
  renderTitle(S);
  renderConvo(S);
  renderCustomer(S);
}

/** renderConn shows the connection state, quietly. */
export function renderConn(S) {
  const el = $('conn-state');
  const labels = { open: 'Connected', connecting: 'Connecting…', waiting: 'Reconnecting…', idle: '' };
  el.textContent = labels[S.connState] ?? '';
  el.className = 'conn ' + S.connState;
}

/** renderStatus shows the status control and the load. */
export function renderStatus(S) {
  const sel = $('status');
  const draining = S.status === 'draining';
  sel.querySelector('option[value="draining"]').hidden = !draining;
  sel.value = S.status || 'offline';
  sel.disabled = S.connState !== 'open';
  $('status-dot').className = 'dot ' + (S.status || 'offline');
  $('load').textContent = `${S.active}/${S.capacity} chats`;
  $('agent-name').textContent = S.agent ? S.agent.name || S.agent.email : '';
}

/** renderNotify labels the notifications button. */
export function renderNotify() {
  const b = $('notify-btn');
  if (!notifySupported()) { b.hidden = true; return; }
  if (Notification.permission === 'denied') {
    b.textContent = 'Notifications blocked';
    b.disabled = true;
  } else {
    b.textContent = notifyEnabled() ? 'Notifications on' : 'Enable notifications';
    b.setAttribute('aria-pressed', notifyEnabled() ? 'true' : 'false');
  }
}

/** renderTitle puts the unread total in the tab title. */
export function renderTitle(S) {
  let n = 0;
  for (const c of S.chats.values()) n += unread(c);
  document.title = n > 0 ? `(${n}) Parley console` : 'Parley console';
}

// ---------------------------------------------------------------- queue

function queueWait(S) {
  if (!S.queue.waiting) return 0;
  return S.queue.oldest + (Date.now() - S.queue.at) / 1000;
}

/** renderQueue shows the waiting customers and how to take one. */
export function renderQueue(S) {
  const el = $('queue');
  const n = S.queue.waiting;
  const full = S.capacity > 0 && S.active >= S.capacity;
  const summary = n === 0
    ? h('p', { className: 'queue-empty muted' }, 'No one is waiting.')
    : h('div', { className: 'queue-summary' },
      h('span', { className: 'queue-count' }, String(n)),
      h('span', null, n === 1 ? ' customer waiting' : ' customers waiting'),
      h('div', { className: 'muted queue-wait' }, 'Longest wait ', h('span', { id: 'queue-clock' }, duration(queueWait(S)))));
  const btn = h('button', {
    type: 'button', id: 'accept-next', className: n ? 'primary small' : 'small',
    disabled: n === 0 || full || S.connState !== 'open',
    title: full ? 'You are at capacity' : 'Take the customer who has waited longest',
    onclick: () => act.acceptNext(),
  }, 'Accept next');
  const list = S.queueList && S.queueList.length
    ? h('ol', { className: 'queue-list', id: 'queue-list' }, S.queueList.map((q) => queueItem(S, q, full)))
    : null;
  replace(el, summary, queueLines(S), list, h('div', { className: 'queue-actions' }, btn,
    full && n ? h('span', { className: 'hint' }, 'At capacity') : null));
}

/**
 * queueLines shows, per queue the agent serves, who waits and how many
 * agents take chats now: "no agent available" is what its customers see
 * too (no wait estimate), so the team can see it before they complain.
 */
function queueLines(S) {
  const qs = S.queue.queues || [];
  if (!qs.length) return null;
  return h('ul', { className: 'queue-queues', id: 'queue-queues' }, qs.map((d) => {
    const none = d.agents_available === 0;
    const avail = none ? 'no agent available'
      : `${d.agents_available} ${d.agents_available === 1 ? 'agent' : 'agents'} available`;
    return h('li', { className: none && d.waiting > 0 ? 'warn' : '', 'data-queue': d.name },
      h('span', { className: 'q-queue-name' }, d.name), ` · ${d.waiting} waiting · `,
      h('span', { className: none ? 'q-none' : 'muted' }, avail));
  }));
}

function queueItem(S, q, full) {
  const p = q.customer_profile || {};
  const name = p.name || q.customer?.name || p.email || q.customer?.email || (p.visitor ? 'Visitor' : q.customer?.id || 'Customer');
  const since = Date.parse(q.queued_at || q.created_at) || Date.now();
  return h('li', { className: 'queue-item', 'data-session': q.id },
    h('div', { className: 'q-main' },
      h('span', { className: 'q-name' }, name),
      h('span', { className: 'q-meta muted' },
        q.queue && q.queue !== 'default' ? `${q.queue} · ` : '',
        p.visitor ? 'Visitor · ' : '', 'waiting ',
        h('span', { 'data-since': since }, duration((Date.now() - since) / 1000)))),
    h('button', {
      type: 'button', className: 'small', disabled: full || S.connState !== 'open',
      'aria-label': `Take ${name}`, onclick: () => act.acceptNext(q.id),
    }, 'Take'));
}

/** renderQueueClock advances the longest wait once a second. */
export function renderQueueClock(S) {
  const el = $('queue-clock');
  if (el) el.textContent = duration(queueWait(S));
  for (const t of document.querySelectorAll('#queue [data-since]')) {
    t.textContent = duration((Date.now() - Number(t.dataset.since)) / 1000);
  }
}

// ---------------------------------------------------------------- chats

/** renderChats lists the agent's chats with unread counts. */
export function renderChats(S) {
  const list = $('chats');
  const order = S.order();
  clear(list);
  const open = order.filter((c) => !c.closed).length;
  $('chats-count').textContent = open ? String(open) : '';
  if (!order.length) {
    list.appendChild(h('li', { className: 'muted chat-none' }, 'No open chats.'));
    return;
  }
  for (const c of order) {
    const n = unread(c);
    const last = lastMessage(c);
    const preview = c.typing ? 'typing…' : last ? (last.whisper ? 'Whisper: ' : '') + (last.file ? `File: ${last.file.name}` : last.text) : 'Waiting for a first message';
    const state = c.closed === 'ended' ? 'Ended' : c.closed === 'left' ? 'Left' : null;
    const btn = h('button', {
      type: 'button',
      className: 'chat-item' + (c.id === S.current ? ' current' : '') + (c.closed ? ' closed' : '') + (n ? ' has-unread' : ''),
      'aria-current': c.id === S.current ? 'true' : null,
      'data-session': c.id,
      onclick: () => act.select(c.id),
    },
    h('span', { className: 'chat-top' },
      h('span', { className: 'chat-name' }, customerName(c)),
      state ? h('span', { className: 'chip' }, state) : null,
      n ? h('span', { className: 'unread', 'aria-label': `${n} unread` }, String(n)) : null),
    h('span', { className: 'chat-preview' }, preview.length > 80 ? preview.slice(0, 80) + '…' : preview));
    list.appendChild(h('li', null, btn));
  }
}

// ---------------------------------------------------------------- conversation

function current(S) { return S.current ? S.chats.get(S.current) : null; }

/** renderConvo draws the conversation pane for the current chat. */
export function renderConvo(S) {
  const c = current(S);
  if ($('past') && !$('past').hidden) { $('empty').hidden = true; $('convo').hidden = true; return; } // past.js
  $('empty').hidden = !!c;
  $('convo').hidden = !c;
  if (!c) return;
  if ($('convo').dataset.session !== c.id) {
    $('convo').dataset.session = c.id;
    $('reply').value = c.draft || '';
    $('whisper').checked = !!c.whisper;
  }
  renderHeader(S);
  renderEvents(S, c);
  renderPending(S, c);
  renderTyping(S);
  renderComposer(S);
}

/** renderHeader shows who the chat is with and the chat's buttons. */
export function renderHeader(S) {
  const c = current(S);
  if (!c) return;
  $('convo-name').textContent = customerName(c);
  const others = (c.session.agents || []).filter((a) => !S.agent || a.id !== S.agent.id).map((a) => a.name);
  const parts = [];
  if (c.closed === 'ended') parts.push('Chat ended');
  else if (c.closed === 'left') parts.push('You left this chat');
  else parts.push('Started ' + clock(c.session.created_at));
  if (others.length) parts.push('with ' + others.join(', '));
  $('convo-sub').textContent = parts.join(' · ');
  $('leave-btn').hidden = !!c.closed;
  $('end-btn').hidden = !!c.closed;
  $('dismiss-btn').hidden = !c.closed;
  renderTransfer(c);
  $('reply-form').hidden = !!c.closed;
  const note = $('closed-note');
  note.hidden = !c.closed;
  note.textContent = c.closed === 'ended' ? 'This chat has ended.' : c.closed === 'left' ? 'You left this chat. It stays open for the customer.' : '';
  renderOlder(S);
}

/** renderOlder shows "Load older" while earlier events exist. */
export function renderOlder(S) {
  const c = current(S);
  $('older-btn').hidden = !c || c.minSeq <= 1;
}

function systemText(S, e) {
  const who = isMe(S, e.from) ? 'You' : e.from?.name || (e.from?.role === 'customer' ? 'The customer' : 'Someone');
  const extra = eventText(e, who, S.agent && S.agent.id);
  if (extra) return extra;
  switch (e.kind) {
    case 'queued': return `${who} started the chat`;
    case 'agent_joined': return `${who} joined`;
    case 'agent_left': return `${who} left`;
    case 'ended':
      if (e.reason === 'admin') return 'An administrator ended the chat';
      return `${who} ended the chat`;
    default: return e.kind;
  }
}

/**
 * eventEl draws one event; sessionID (default: the current chat) is the
 * session its files download from.
 */
export function eventEl(S, e, sessionID) {
  if (e.kind !== 'message' && e.kind !== 'file') {
    return h('li', { className: isWarning(e) ? 'sys warn' : 'sys', 'data-seq': e.seq },
      h('span', null, systemText(S, e)), h('time', { datetime: e.at }, clock(e.at)));
  }
  const me = isMe(S, e.from);
  const role = e.from?.role === 'customer' ? 'customer' : me ? 'me' : 'agent';
  const name = me ? 'You' : e.from?.name || (role === 'customer' ? 'Customer' : 'Agent');
  if (e.kind === 'file') return fileEl(e, { sessionID: sessionID || current(S)?.id, token: S.token, role, name, onError: toast });
  return h('li', { className: `msg ${role}${e.whisper ? ' whisper' : ''}`, 'data-seq': e.seq,
    'data-from': `${e.from?.role}:${e.from?.id || ''}:${e.whisper ? 'w' : ''}`, 'data-at': Date.parse(e.at) || 0 },
    h('div', { className: 'meta' },
      h('span', { className: 'who' }, name),
      e.whisper ? h('span', { className: 'whisper-tag' }, 'Whisper · agents only') : null,
      h('time', { datetime: e.at, title: dateTime(e.at) }, clock(e.at))),
    h('div', { className: 'bubble' }, linkify(e.text || '')));
}

/**
 * group hides the name and time of a message that follows one from the same
 * sender within two minutes, so a run of messages reads as one block.
 */
export function group(el) {
  if (!el || !el.classList.contains('msg')) return;
  const prev = el.previousElementSibling;
  const same = prev && prev.classList.contains('msg') && prev.dataset.from === el.dataset.from &&
    Number(el.dataset.at) - Number(prev.dataset.at) < 120000;
  el.classList.toggle('cont', !!same);
}

/** renderEvents redraws the current chat's events in seq order. */
export function renderEvents(S, c) {
  const list = $('events');
  clear(list);
  const seqs = [...c.events.keys()].sort((a, b) => a - b);
  for (const s of seqs) group(list.appendChild(eventEl(S, c.events.get(s))));
  renderSeen(S, c);
  renderOlder(S);
}

/** insertEvent puts one new event at its place, keeping the view pinned. */
export function insertEvent(S, c, e) {
  const list = $('events');
  const pinned = nearEnd();
  const el = eventEl(S, e);
  let before = null;
  for (let n = list.lastElementChild; n; n = n.previousElementSibling) {
    if (Number(n.dataset.seq) > e.seq) before = n; else break;
  }
  list.insertBefore(el, before);
  group(el);
  group(el.nextElementSibling);
  if (e.kind === 'message' && isMe(S, e.from)) renderSeen(S, c);
  if (pinned || isMe(S, e.from)) scrollToEnd(true);
}

/** renderPending shows messages not yet acknowledged by the server. */
export function renderPending(S, c) {
  const list = $('pending');
  clear(list);
  for (const p of c.pending.values()) {
    list.appendChild(h('li', { className: `msg me pending${p.whisper ? ' whisper' : ''}`, 'data-cmid': p.cmid },
      h('div', { className: 'meta' },
        h('span', { className: 'who' }, 'You'),
        p.whisper ? h('span', { className: 'whisper-tag' }, 'Whisper · agents only') : null,
        p.error
          ? h('span', { className: 'send-error' }, 'Not sent: ' + p.error,
            h('button', { type: 'button', className: 'link', onclick: () => act.retryPending(p.cmid) }, 'Retry'),
            h('button', { type: 'button', className: 'link', onclick: () => act.discardPending(p.cmid) }, 'Discard'))
          : h('span', { className: 'sending' }, S.connState === 'open' ? 'Sending…' : 'Waiting for connection…')),
      h('div', { className: 'bubble' }, linkify(p.text))));
  }
}

/** renderSeen marks the agent's latest message the customer has read. */
export function renderSeen(S, c) {
  for (const m of document.querySelectorAll('#events .seen-mark')) m.remove();
  if (!c.readSeq) return;
  let best = 0;
  for (const e of c.events.values()) {
    if (e.kind === 'message' && !e.whisper && e.seq <= c.readSeq && e.from?.role === 'agent' && e.seq > best) best = e.seq;
  }
  const li = best && $('events').querySelector(`li[data-seq="${best}"] .meta`);
  if (li) li.appendChild(h('span', { className: 'seen-mark' }, 'Seen'));
}

/** renderTyping shows who is typing in the current chat. */
export function renderTyping(S) {
  const c = current(S);
  const el = $('typing');
  if (!c || !c.typing) { el.textContent = ''; el.classList.remove('on'); return; }
  replace(el, h('span', { className: 'dots', 'aria-hidden': 'true' }, h('i'), h('i'), h('i')),
    `${c.typing.name} is typing…`);
  el.classList.add('on');
}

/** renderComposer styles the reply box for a whisper. */
export function renderComposer(S) {
  const w = $('whisper').checked;
  $('reply-form').classList.toggle('whispering', w);
  $('whisper-hint').hidden = !w;
  $('reply').placeholder = w
    ? 'Whisper to other agents… the customer will not see this'
    : 'Write a reply… Enter sends, Shift+Enter adds a line';
  $('send-btn').textContent = w ? 'Send whisper' : 'Send';
  const c = current(S);
  if (c) renderPending(S, c);
}

function nearEnd() {
  const log = $('log');
  return log.scrollHeight - log.scrollTop - log.clientHeight < 80;
}

/** scrollToEnd scrolls the messages to the newest. */
export function scrollToEnd(force) {
  const log = $('log');
  if (force || nearEnd()) log.scrollTop = log.scrollHeight;
}

/** keepScroll returns a function that restores the view after prepending. */
export function keepScroll() {
  const log = $('log');
  const from = log.scrollHeight - log.scrollTop;
  return () => { log.scrollTop = log.scrollHeight - from; };
}

// ---------------------------------------------------------------- customer

/** toggleCustomer opens or closes the customer pane on narrow screens. */
export function toggleCustomer() {
  const open = !$('app').classList.contains('show-customer');
  $('app').classList.toggle('show-customer', open);
  $('customer-toggle').setAttribute('aria-expanded', String(open));
}

function profileValue(v) {
  if (v === null) return '—';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

function profileList(raw) {
  let obj = raw;
  if (typeof raw === 'string') { try { obj = JSON.parse(raw); } catch { obj = null; } }
  if (!obj || typeof obj !== 'object' || Array.isArray(obj) || !Object.keys(obj).length) {
    return h('p', { className: 'muted' }, 'No profile data.');
  }
  const dl = h('dl', { className: 'kv', id: 'customer-profile' });
  for (const [k, v] of Object.entries(obj)) {
    dl.appendChild(h('dt', null, k));
    const s = profileValue(v);
    dl.appendChild(h('dd', null, /^https?:\/\//i.test(s) ? linkify(s) : s));
  }
  return dl;
}

/** renderCustomer fills the customer pane for the current chat. */
export function renderCustomer(S) {
  const el = $('customer');
  const c = current(S);
  if (!c) { replace(el, h('p', { className: 'muted pad' }, 'Customer details appear here.')); return; }
  const name = customerName(c);
  const email = c.session.customer?.email || c.profile?.email;
  const visitor = isVisitor(c);
  const id = c.profile?.id || c.session.customer?.id || '';
  const others = S.order().filter((o) => o.id !== c.id && (o.session.customer?.id || '') === id);
  const messages = [...c.events.values()].filter((e) => e.kind === 'message').length;
  replace(el,
    h('button', { type: 'button', className: 'ghost small narrow-only drawer-close', onclick: toggleCustomer }, 'Close'),
    h('div', { className: 'cust-head' },
      h('div', { className: 'avatar', 'aria-hidden': 'true' }, ([...name][0] || '?').toUpperCase()),
      h('div', { className: 'cust-id' },
        h('h2', { id: 'customer-name' }, name),
        email ? h('div', { id: 'customer-email', className: 'muted' }, email) : null)),
    visitor
      ? h('p', { className: 'badge visitor', id: 'customer-identity' }, 'Anonymous visitor')
      : h('p', { className: 'badge verified', id: 'customer-identity', title: 'Identity from a token signed by your site' }, '✓ Verified customer'),
    h('dl', { className: 'kv' }, h('dt', null, 'Customer ID'), h('dd', { className: 'mono' }, id)),
    h('h3', null, 'Profile'),
    c.profile ? profileList(c.profile.profile) : h('p', { className: 'muted' }, 'Profile data arrives with a new assignment; it is not available after a reload.'),
    contextSection(c.id),
    h('h3', null, 'This conversation'),
    h('dl', { className: 'kv' },
      h('dt', null, 'Started'), h('dd', null, dateTime(c.session.created_at)),
      c.session.assigned_at ? [h('dt', null, 'Assigned'), h('dd', null, dateTime(c.session.assigned_at))] : null,
      h('dt', null, 'Agents'), h('dd', null, (c.session.agents || []).map((a) => a.name).join(', ') || '—'),
      h('dt', null, 'Messages'), h('dd', null, String(messages))),
    h('h3', null, 'Previous conversations'),
    previousList(S, c, id, others));
}

const stateLabel = { queued: 'waiting', active: 'open', ended: 'ended' };

function previousList(S, c, id, others) {
  const prev = S.previousSessions ? S.previousSessions(id) : null;
  if (prev && prev.state === 'ok') {
    const list = prev.sessions.filter((s) => s.id !== c.id);
    if (!list.length) return h('p', { className: 'muted', id: 'customer-previous' }, 'No earlier conversations in the last 14 days.');
    return h('ul', { className: 'prev', id: 'customer-previous' }, list.map((s) => {
      const mine = S.chats.get(s.id);
      const when = dateTime(s.created_at);
      const agents = (s.agents || []).map((a) => a.name).join(', ');
      const open = $('past')?.dataset.session === s.id; // shown by past.js
      return h('li', { 'data-session': s.id, className: open ? 'current' : null },
        h('button', { type: 'button', className: 'link', 'aria-current': open ? 'true' : null,
          title: mine ? 'Go to this chat' : 'Read this conversation',
          onclick: () => (mine ? act.select(s.id) : act.openPast(s)) }, when),
        h('span', { className: 'muted' }, ` · ${stateLabel[s.state] || s.state}${agents ? ' · ' + agents : ''}`));
    }));
  }
  if (others.length) {
    return h('ul', { className: 'prev', id: 'customer-previous' }, others.map((o) => h('li', null,
      h('button', { type: 'button', className: 'link', onclick: () => act.select(o.id) }, dateTime(o.session.created_at)),
      h('span', { className: 'muted' }, o.closed ? ' · ended' : ' · open'))));
  }
  const msg = prev && prev.state === 'loading' ? 'Loading…'
    : prev && prev.state === 'error' ? 'Earlier conversations could not be loaded.'
      : 'None in this console session. Earlier conversations are not available from this server.';
  return h('p', { className: 'muted', id: 'customer-previous' }, msg);
}
