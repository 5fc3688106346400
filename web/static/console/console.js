// Parley agent console: sign-in, the agent socket, chats and the actions an
// agent takes. Rendering lives in view.js; every text goes in as text.

import { AgentConn } from './conn.js';
import { enableNotify, disableNotify, notifyEnabled, notifySupported, alertNewChat } from './notify.js';
import { initLogin, showLogin } from './login.js';
import * as view from './view.js';
import { initTransfer } from './transfer.js';
import { setContext } from './context.js';
import { initFiles } from './files.js';
import { initPast, openPast, closePast, pastOpen } from './past.js';

const tokenKey = 'parley.console.token';
const profilesKey = 'parley.console.profiles';
const seenKey = 'parley.console.seen';
const firstPage = 50;

const $ = (id) => document.getElementById(id);

/** S is the whole state of the console. */
const S = {
  token: null,
  conn: null,
  agent: null,
  status: 'offline',
  active: 0,
  capacity: 0,
  queue: { waiting: 0, oldest: 0, at: Date.now() },
  limits: null, // the server's limits, from welcome
  queueList: null, // waiting sessions from queue_list; null when unknown
  queueListSupported: true, // false once the server says it has no queue_list
  prev: new Map(), // customer id -> {state: 'loading'|'ok'|'unsupported'|'error', sessions, at}
  chats: new Map(), // session id -> chat
  current: null,
  connState: 'idle',
};
window.parleyConsole = S; // handy when debugging from devtools

// ---------------------------------------------------------------- storage

function loadJSON(key) {
  try { return JSON.parse(sessionStorage.getItem(key) || '{}') || {}; } catch { return {}; }
}
function saveJSON(key, v) {
  try { sessionStorage.setItem(key, JSON.stringify(v)); } catch { /* full or disabled */ }
}
function cacheProfile(id, p) { const all = loadJSON(profilesKey); all[id] = p; saveJSON(profilesKey, all); }
function cachedProfile(id) { return loadJSON(profilesKey)[id] || null; }
function saveSeen(c) { const all = loadJSON(seenKey); all[c.id] = c.seen; saveJSON(seenKey, all); }

function signedIn(token) {
  S.token = token;
  sessionStorage.setItem(tokenKey, token);
  startApp();
}

function signOut(message) {
  if (S.conn) S.conn.stop();
  S.conn = null;
  S.token = null;
  sessionStorage.removeItem(tokenKey);
  sessionStorage.removeItem(profilesKey);
  sessionStorage.removeItem(seenKey);
  S.chats.clear();
  S.current = null;
  S.queueList = null;
  S.queueListSupported = true;
  S.prev.clear();
  closePast();
  S.agent = null; // so the next agent's welcome is not taken for a reconnect
  S.status = 'offline';
  S.connState = 'idle';
  view.renderAll(S); // nothing of this session may show in the next one
  showLogin(message);
}

// ---------------------------------------------------------------- the app

function startApp() {
  $('login').hidden = true;
  $('app').hidden = false;
  S.chats.clear();
  S.current = null;
  view.renderAll(S);
  S.conn = new AgentConn(S.token, {
    onWelcome,
    onFrame,
    onState(st) { S.connState = st; view.renderConn(S); view.renderStatus(S); view.renderQueue(S); },
    onAuthFail() { signOut('Your sign-in has expired. Please sign in again.'); },
  });
  S.conn.start();
}

function newChat(session) {
  const c = {
    id: session.id,
    session,
    profile: cachedProfile(session.id),
    events: new Map(),
    minSeq: 0, // lowest seq loaded (0: none yet)
    through: 0, // every seq from minSeq through this one is loaded
    seen: loadJSON(seenKey)[session.id] || 0,
    pending: new Map(), // client_msg_id -> {cmid, text, whisper, error}
    closed: null, // null, 'ended' or 'left'
    typing: null,
    typingTimer: 0,
    readSeq: 0,
    draft: '',
    whisper: false,
  };
  S.chats.set(c.id, c);
  return c;
}

/** chatOrder lists chats with open ones first, each group oldest first. */
function chatOrder() {
  const key = (c) => c.session.assigned_at || c.session.created_at || '';
  const all = [...S.chats.values()];
  const open = all.filter((c) => !c.closed).sort((a, b) => key(a).localeCompare(key(b)));
  const done = all.filter((c) => c.closed).sort((a, b) => key(a).localeCompare(key(b)));
  return [...open, ...done];
}
S.order = chatOrder;

function setAgentStatus(status, active, capacity) {
  if (status) S.status = status;
  if (typeof active === 'number') S.active = active;
  if (typeof capacity === 'number') S.capacity = capacity;
  view.renderStatus(S);
  view.renderQueue(S);
}

/**
 * syncActive counts the open chats: the server sends agent_status on status
 * changes, not on every assignment, and the chats list is exact.
 */
function syncActive() {
  let n = 0;
  for (const c of S.chats.values()) if (!c.closed) n++;
  if (n !== S.active) { S.active = n; view.renderStatus(S); view.renderQueue(S); }
}

function setQueue(q) {
  S.queue = { waiting: q.waiting || 0, oldest: q.oldest_wait_s || 0, at: Date.now(), queues: q.queues || [] };
  view.renderQueue(S);
  refreshQueueList();
}

let queueListBusy = false;
let queueListAgain = false;

/**
 * refreshQueueList asks for the waiting customers (queue_list). It is not
 * pushed, so it is asked again whenever the queue summary changes; calls
 * while one is in flight coalesce into one more. A server without
 * queue_list answers bad_request, and the console keeps the summary.
 */
async function refreshQueueList() {
  if (!S.queueListSupported || !S.conn || !S.conn.isOpen) return;
  if (queueListBusy) { queueListAgain = true; return; }
  queueListBusy = true;
  try {
    const r = await S.conn.request({ type: 'queue_list', limit: 100 }, 'queue_list');
    S.queueList = r.sessions || [];
    if (typeof r.waiting === 'number' && r.waiting !== S.queue.waiting) {
      S.queue = { ...S.queue, waiting: r.waiting, at: Date.now() };
    }
  } catch (err) {
    if (err.code === 'bad_request') { S.queueListSupported = false; S.queueList = null; }
  } finally {
    queueListBusy = false;
  }
  view.renderQueue(S);
  if (queueListAgain) { queueListAgain = false; refreshQueueList(); }
}

/**
 * previousSessions returns what is known of a customer's recent sessions
 * and fetches them (with the agent token in a header) when not yet known.
 */
function previousSessions(customerID) {
  if (!customerID) return null;
  if (S.prevUnsupported) return { state: 'unsupported', sessions: [] };
  let p = S.prev.get(customerID);
  if (p && (p.state !== 'ok' || Date.now() - p.at < 60000)) return p;
  const stale = p;
  p = { state: stale ? stale.state : 'loading', sessions: stale ? stale.sessions : [], at: Date.now() };
  S.prev.set(customerID, p);
  fetch(`/v1/agent/customers/${encodeURIComponent(customerID)}/sessions`, {
    headers: { Authorization: `Bearer ${S.token}` }, credentials: 'omit', cache: 'no-store',
  }).then(async (res) => {
    if (res.ok) {
      const data = await res.json();
      p.state = 'ok';
      p.sessions = data.sessions || [];
    } else {
      // An older server has no such route: ask once per page, not per customer.
      p.state = res.status === 404 || res.status === 405 ? 'unsupported' : 'error';
      if (p.state === 'unsupported') S.prevUnsupported = true;
    }
  }).catch(() => { p.state = 'error'; })
    .finally(() => { p.at = Date.now(); view.renderCustomer(S); });
  return p;
}
S.previousSessions = previousSessions;

async function onWelcome(w) {
  const before = S.agent ? S.status : null;
  S.agent = w.agent;
  if (w.limits) {
    S.limits = w.limits;
    if (w.limits.max_message_chars > 0) $('reply').maxLength = w.limits.max_message_chars;
  }
  // Status lives in the server's memory: a restarted server says offline.
  // Put back what the agent had chosen, so nobody stops getting chats
  // because the server was upgraded.
  if (before && before !== 'offline' && w.agent.status === 'offline') {
    const want = before === 'draining' ? 'break' : before;
    S.conn.request({ type: 'status', status: want }, 'agent_status')
      .then(() => view.toast(`Reconnected: your status is ${want === 'available' ? 'Available' : 'Break'} again.`))
      .catch(() => {});
  }
  setAgentStatus(w.agent.status, w.agent.active, w.agent.capacity);
  setQueue(w.queue || {});
  const open = new Set();
  const work = [];
  for (const s of w.sessions || []) {
    open.add(s.id);
    let c = S.chats.get(s.id);
    if (!c) {
      c = newChat(s);
      c.through = Math.max(0, (s.last_seq || 0) - firstPage);
      c.minSeq = c.through + 1;
    }
    c.session = s;
    c.closed = null;
    if (s.customer_profile) { c.profile = s.customer_profile; cacheProfile(c.id, c.profile); }
    work.push(resync(c));
  }
  for (const c of S.chats.values()) {
    if (!open.has(c.id) && !c.closed) work.push(settleGone(c));
  }
  if (!S.current) {
    const first = chatOrder().find((c) => !c.closed);
    if (first) S.current = first.id;
  }
  syncActive();
  view.renderAll(S);
  await Promise.allSettled(work);
  syncActive();
  view.renderAll(S);
}

/** resync replays what the chat missed, page by page, then resends. */
async function resync(c) {
  try {
    let after = c.through;
    for (let i = 0; i < 1000; i++) {
      const r = await S.conn.request({ type: 'resume', session_id: c.id, after_seq: after }, 'resumed');
      if (r.through_seq > c.through && !r.more) advanceThrough(c, r.through_seq);
      if (!r.more) break;
      after = r.through_seq;
    }
  } catch (err) {
    if (err.code === 'conflict') { await settleGone(c); return; }
    return; // offline: the next welcome tries again
  }
  resendPending(c);
}

/** settleGone reads the end of a chat that is no longer ours. */
async function settleGone(c) {
  try {
    const r = await S.conn.request({ type: 'history', session_id: c.id, before_seq: 0, limit: firstPage }, 'history');
    for (const e of r.events || []) mergeEvent(c, e);
  } catch { /* keep what we have */ }
  if (!c.closed) c.closed = [...c.events.values()].some((e) => e.kind === 'ended') ? 'ended' : 'left';
  c.typing = null;
  syncActive();
  view.renderAll(S);
}

function advanceThrough(c, seq) {
  // The server says every seq up to seq was sent: nothing is missing.
  if (seq > c.through) c.through = seq;
}

function chatFor(f) {
  return f.session_id ? S.chats.get(f.session_id) : null;
}

function onFrame(f) {
  switch (f.type) {
    case 'agent_status':
      setAgentStatus(f.status, f.active, f.capacity);
      break;
    case 'queue':
      if (!f.session_id) setQueue(f);
      break;
    case 'assigned':
      onAssigned(f);
      break;
    case 'event': {
      const c = chatFor(f);
      if (c && f.event) mergeEvent(c, f.event, true);
      break;
    }
    case 'session': {
      const c = f.session && S.chats.get(f.session.id);
      if (c) {
        c.session = f.session;
        if (f.session.customer_profile) c.profile = f.session.customer_profile;
        if (c.id === S.current) { view.renderHeader(S); view.renderCustomer(S); }
      }
      break;
    }
    case 'customer_context':
      setContext(f);
      if (f.session_id === S.current) view.renderCustomer(S);
      break;
    case 'sent':
      onSent(f);
      break;
    case 'typing': {
      const c = chatFor(f);
      if (c && f.from && !(f.from.role === 'agent' && S.agent && f.from.id === S.agent.id)) setTyping(c, f.from, f.active !== false);
      break;
    }
    case 'read': {
      const c = chatFor(f);
      if (c && f.seq > c.readSeq) { c.readSeq = f.seq; if (c.id === S.current) view.renderSeen(S, c); }
      break;
    }
    case 'error':
      if (!f.re) view.toast(f.message || 'Something went wrong.');
      break;
    default:
      break;
  }
}

function onAssigned(f) {
  const s = f.session;
  let c = S.chats.get(s.id);
  const isNew = !c || !!c.closed;
  if (!c) c = newChat(s);
  c.session = s;
  c.closed = null;
  if (f.customer_profile) { c.profile = f.customer_profile; cacheProfile(c.id, c.profile); }
  if (f.customer_context) setContext({ session_id: s.id, context: f.customer_context });
  const evs = f.events || [];
  if (evs.length && (!c.minSeq || evs[0].seq < c.minSeq)) {
    if (!c.minSeq || evs[0].seq > c.through + 1) {
      c.minSeq = evs[0].seq;
      c.through = evs[0].seq - 1;
    } else {
      c.minSeq = evs[0].seq;
    }
  }
  for (const e of evs) mergeEvent(c, e, false);
  syncActive();
  if (f.re || !S.current || S.chats.get(S.current)?.closed) {
    select(c.id);
  } else {
    view.renderAll(S);
  }
  if (isNew && !f.re) {
    const who = s.customer?.name || c.profile?.name || 'A customer';
    alertNewChat('New chat in Parley', `${who} is waiting for your reply.`, () => select(c.id));
  }
}

/** mergeEvent adds e to c unless its seq is already known. */
function mergeEvent(c, e, live) {
  if (!e || typeof e.seq !== 'number' || c.events.has(e.seq)) return;
  c.events.set(e.seq, e);
  if (!c.minSeq || e.seq < c.minSeq) c.minSeq = e.seq;
  while (c.events.has(c.through + 1)) c.through += 1;
  if (e.seq > (c.session.last_seq || 0)) c.session.last_seq = e.seq;
  if (e.client_msg_id && c.pending.has(e.client_msg_id) && e.from?.role === 'agent' && e.from.id === S.agent?.id) {
    c.pending.delete(e.client_msg_id);
    if (c.id === S.current) view.renderPending(S, c);
  }
  const mine = e.from?.role === 'agent' && S.agent && e.from.id === S.agent.id;
  if (e.kind === 'message' && e.from && c.typing && c.typing.id === e.from.id) clearTyping(c);
  if (e.kind === 'ended') { c.closed = 'ended'; clearTyping(c); S.prev.delete(c.session.customer?.id); }
  if (e.kind === 'agent_left' && mine && live) c.closed = 'left';
  if (e.kind === 'agent_joined' && mine && c.closed === 'left') c.closed = null;
  if (mine && e.kind === 'message' && e.seq > c.seen) c.seen = e.seq;
  if (c.id === S.current && isAttending()) markSeen(c);
  if (c.id === S.current) { view.insertEvent(S, c, e); view.renderCustomer(S); }
  if (e.kind === 'ended' || e.kind === 'agent_left' || e.kind === 'agent_joined') {
    if (c.id === S.current) view.renderHeader(S);
    syncActive();
  }
  view.renderChats(S);
  view.renderTitle(S);
}

function isAttending() {
  // A past conversation (past.js) covers the current chat while it is open.
  return document.visibilityState === 'visible' && document.hasFocus() && !pastOpen();
}

function markSeen(c) {
  let max = c.seen;
  for (const seq of c.events.keys()) if (seq > max) max = seq;
  if (max !== c.seen) { c.seen = max; saveSeen(c); }
}

// ---------------------------------------------------------------- typing

function setTyping(c, from, active) {
  clearTimeout(c.typingTimer);
  c.typing = active ? { id: from.id, name: from.name || (from.role === 'customer' ? 'The customer' : 'An agent'), role: from.role } : null;
  if (active) c.typingTimer = setTimeout(() => clearTyping(c), 8000);
  if (c.id === S.current) view.renderTyping(S);
  view.renderChats(S);
}

function clearTyping(c) {
  clearTimeout(c.typingTimer);
  if (!c.typing) return;
  c.typing = null;
  if (c.id === S.current) view.renderTyping(S);
  view.renderChats(S);
}

let myTyping = { id: null, sentAt: 0, timer: 0 };

function sendTyping(active) {
  const c = S.chats.get(S.current);
  if (!c || c.closed || !S.conn) return;
  clearTimeout(myTyping.timer);
  if (active) {
    const now = Date.now();
    if (myTyping.id !== c.id || now - myTyping.sentAt > 3000) {
      S.conn.send({ type: 'typing', session_id: c.id, active: true });
      myTyping = { id: c.id, sentAt: now, timer: 0 };
    }
    myTyping.timer = setTimeout(() => sendTyping(false), 4000);
  } else if (myTyping.id) {
    S.conn.send({ type: 'typing', session_id: myTyping.id, active: false });
    myTyping = { id: null, sentAt: 0, timer: 0 };
  }
}

// ---------------------------------------------------------------- sending

function newMsgID() {
  const b = new Uint8Array(12);
  crypto.getRandomValues(b);
  return 'm-' + Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

function sendReply() {
  const c = S.chats.get(S.current);
  const box = $('reply');
  const text = box.value;
  if (!c || c.closed || !text.trim()) return;
  const p = { cmid: newMsgID(), text, whisper: $('whisper').checked, error: null };
  c.pending.set(p.cmid, p);
  box.value = '';
  c.draft = '';
  c.whisper = false;
  $('whisper').checked = false;
  sendTyping(false);
  view.renderComposer(S);
  view.renderPending(S, c);
  view.scrollToEnd(true);
  trySend(c, p);
}

function trySend(c, p) {
  if (!S.conn || !S.conn.isOpen) return; // sent again after the next welcome
  p.error = null;
  S.conn.request({ type: 'send', session_id: c.id, text: p.text, whisper: p.whisper, client_msg_id: p.cmid }, 'sent')
    .catch((err) => {
      if (err.code === 'offline') return; // resent on reconnect
      if (err.code === 'timeout') { setTimeout(() => { if (c.pending.has(p.cmid)) trySend(c, p); }, 2000); return; }
      p.error = err.message || 'Not sent.';
      if (c.id === S.current) view.renderPending(S, c);
    });
}

function onSent(f) {
  const c = chatFor(f);
  if (!c || !f.client_msg_id) return;
  const p = c.pending.get(f.client_msg_id);
  if (!p) return;
  // The event normally arrives right after; if it came before (a resume),
  // or not at all (a duplicate), build it from the acknowledgement.
  mergeEvent(c, {
    seq: f.seq, id: f.id, at: f.at, kind: 'message', text: p.text, whisper: p.whisper,
    client_msg_id: p.cmid, from: { role: 'agent', id: S.agent.id, name: S.agent.name },
  }, true);
  c.pending.delete(p.cmid);
  if (c.id === S.current) view.renderPending(S, c);
}

function resendPending(c) {
  for (const p of c.pending.values()) if (!p.error) trySend(c, p);
}

function retryPending(cmid) {
  const c = S.chats.get(S.current);
  const p = c && c.pending.get(cmid);
  if (p) { p.error = null; view.renderPending(S, c); trySend(c, p); }
}

function discardPending(cmid) {
  const c = S.chats.get(S.current);
  if (c && c.pending.delete(cmid)) view.renderPending(S, c);
}

// ---------------------------------------------------------------- actions

function select(id) {
  closePast();
  const prev = S.chats.get(S.current);
  if (prev && prev.id !== id) prev.draft = $('reply').value;
  if (prev && prev.id !== id) sendTyping(false);
  S.current = id;
  $('end-confirm').hidden = true;
  const c = S.chats.get(id);
  if (c && isAttending()) markSeen(c);
  view.renderAll(S);
  view.scrollToEnd(true);
  if (c && !c.closed) $('reply').focus();
}

function move(delta) {
  const order = chatOrder();
  if (!order.length) return;
  const i = order.findIndex((c) => c.id === S.current);
  const next = order[(i + delta + order.length) % order.length];
  if (next) select(next.id);
}

async function loadOlder() {
  const c = S.chats.get(S.current);
  if (!c || c.minSeq <= 1 || !S.conn) return;
  view.busy('older-btn', true);
  try {
    const r = await S.conn.request({ type: 'history', session_id: c.id, before_seq: c.minSeq, limit: firstPage }, 'history');
    const keep = view.keepScroll();
    const evs = r.events || [];
    for (const e of evs) mergeEvent(c, e, false);
    if (!r.more) c.minSeq = 1;
    else if (evs.length) c.minSeq = Math.min(c.minSeq, evs[0].seq);
    if (c.id === S.current) { view.renderEvents(S, c); keep(); }
  } catch (err) {
    view.toast(err.code === 'offline' ? 'Not connected: try again in a moment.' : err.message);
  } finally {
    view.busy('older-btn', false);
    view.renderOlder(S);
  }
}

async function command(frame, until, okMsg) {
  if (!S.conn || !S.conn.isOpen) { view.toast('Not connected: try again in a moment.'); return null; }
  try {
    const r = await S.conn.request(frame, until);
    if (okMsg) view.toast(okMsg);
    return r;
  } catch (err) {
    view.toast(err.message || 'That did not work.');
    return null;
  }
}

async function acceptNext(sessionID) {
  if (S.capacity && S.active >= S.capacity) { view.toast('You are at capacity: end or leave a chat first.'); return; }
  const frame = sessionID ? { type: 'accept', session_id: sessionID } : { type: 'accept' };
  const r = await command(frame, 'assigned');
  if (r === null && S.queue.waiting === 0) view.renderQueue(S);
  refreshQueueList();
}

async function leaveChat() {
  const c = S.chats.get(S.current);
  if (!c || c.closed) return;
  const r = await command({ type: 'leave', session_id: c.id }, 'event');
  if (r) { c.closed = 'left'; clearTyping(c); syncActive(); view.renderAll(S); }
}

function askEnd() {
  const c = S.chats.get(S.current);
  if (!c || c.closed) return;
  $('end-confirm').hidden = false;
  $('end-confirm-yes').focus();
}

async function endChat() {
  $('end-confirm').hidden = true;
  const c = S.chats.get(S.current);
  if (!c || c.closed) return;
  await command({ type: 'end', session_id: c.id }, 'event');
}

function dismissChat() {
  const c = S.chats.get(S.current);
  if (!c || !c.closed) return;
  S.chats.delete(c.id);
  const next = chatOrder()[0];
  S.current = next ? next.id : null;
  view.renderAll(S);
}

async function changeStatus() {
  const want = $('status').value;
  const r = await command({ type: 'status', status: want }, 'agent_status');
  if (!r) view.renderStatus(S);
}

async function toggleNotify() {
  if (notifyEnabled()) disableNotify();
  else {
    const ok = await enableNotify();
    if (!ok && notifySupported() && Notification.permission === 'denied') {
      view.toast('Notifications are blocked for this site in your browser settings.');
    }
  }
  view.renderNotify();
}

// ---------------------------------------------------------------- wiring

function wire() {
  initLogin(signedIn);
  $('signout-btn').addEventListener('click', () => signOut());
  $('status').addEventListener('change', changeStatus);
  $('notify-btn').addEventListener('click', toggleNotify);
  $('older-btn').addEventListener('click', loadOlder);
  $('leave-btn').addEventListener('click', leaveChat);
  $('end-btn').addEventListener('click', askEnd);
  $('end-confirm-yes').addEventListener('click', endChat);
  $('end-confirm-no').addEventListener('click', () => { $('end-confirm').hidden = true; $('reply').focus(); });
  $('dismiss-btn').addEventListener('click', dismissChat);
  $('customer-toggle').addEventListener('click', () => view.toggleCustomer());
  $('reply-form').addEventListener('submit', (ev) => { ev.preventDefault(); sendReply(); });
  // Enter sends; the line break it would type is swallowed even when the
  // key's character arrives as a separate event (some input methods and
  // automation send keydown and the character apart).
  let swallowBreak = false;
  $('reply').addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.altKey && !ev.isComposing) {
      ev.preventDefault();
      swallowBreak = true;
      sendReply();
    }
  });
  $('reply').addEventListener('keyup', (ev) => { if (ev.key === 'Enter') swallowBreak = false; });
  $('reply').addEventListener('beforeinput', (ev) => {
    if (swallowBreak && (ev.inputType === 'insertLineBreak' || ev.inputType === 'insertParagraph' ||
        (ev.inputType === 'insertText' && (ev.data === '\r' || ev.data === '\n')))) {
      ev.preventDefault();
    }
  });
  $('reply').addEventListener('input', () => {
    if (!$('whisper').checked && $('reply').value.trim()) sendTyping(true);
    else sendTyping(false);
  });
  $('reply').addEventListener('blur', () => sendTyping(false));
  $('whisper').addEventListener('change', () => {
    const c = S.chats.get(S.current);
    if (c) c.whisper = $('whisper').checked;
    if ($('whisper').checked) sendTyping(false);
    view.renderComposer(S);
    $('reply').focus();
  });
  document.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && $('app').classList.contains('show-customer')) { view.toggleCustomer(); return; }
    if (!ev.altKey || $('app').hidden) return;
    if (ev.key === 'ArrowUp') { ev.preventDefault(); move(-1); }
    if (ev.key === 'ArrowDown') { ev.preventDefault(); move(1); }
  });
  const attend = () => {
    const c = S.chats.get(S.current);
    if (c && isAttending()) { markSeen(c); view.renderChats(S); view.renderTitle(S); }
  };
  window.addEventListener('focus', attend);
  document.addEventListener('visibilitychange', attend);
  view.bind({ select, acceptNext, retryPending, discardPending, openPast });
  initPast(S, () => { if (S.current) select(S.current); else view.renderAll(S); });
  initTransfer(S, command, view.toast);
  initFiles({
    token: () => S.token, currentSession: () => S.current, onError: view.toast,
    maxFileSize: () => S.limits && S.limits.max_file_size,
    uploadSession: () => { const c = S.chats.get(S.current); return c && !c.closed ? c.id : null; },
  });
  setInterval(() => { if (!$('app').hidden) view.renderQueueClock(S); }, 1000);
}

wire();
view.renderNotify();
const saved = sessionStorage.getItem(tokenKey);
if (saved) { S.token = saved; startApp(); } else showLogin();
