// The Parley widget frame: the customer's side of the chat, loaded by
// widget.js in an iframe of the host page. It gets its token from the
// parent by postMessage (never in a URL), talks to Parley over one
// WebSocket, reconnects with backoff and resumes from the last seq seen,
// and retries unacknowledged sends with the same client_msg_id.
// Message text is only ever inserted as text.

import { noticeText, isWarning } from './notices.js';
import { initEmail } from './email.js';
import { fileBody, initUploads } from './files.js';

const $ = (id) => document.getElementById(id);
const ui = {
  title: $('title'), subtitle: $('subtitle'), banner: $('banner'),
  pastBtn: $('past-btn'), endBtn: $('end-btn'), closeBtn: $('close-btn'),
  chatView: $('chat-view'), intro: $('intro'), queueCard: $('queue-card'),
  queuePos: $('queue-position'), queueWait: $('queue-wait'), log: $('log'),
  endedCard: $('ended-card'), downloadBtn: $('download-btn'), newBtn: $('new-btn'),
  pastView: $('past-view'), backBtn: $('back-btn'), pastList: $('past-list'),
  pastEmpty: $('past-empty'), pastDetail: $('past-detail'), olderBtn: $('older-btn'),
  pastLog: $('past-log'), pastDownload: $('past-download'), pastTitle: $('past-title'),
  typing: $('typing'), composer: $('composer'), msg: $('msg'), sendBtn: $('send-btn'),
};

const S = {
  parentOrigin: null,
  token: null, // the host's customer token (identify)
  visitor: null, // an anonymous visitor's token
  queue: null, // the queue new sessions start in (Parley('queue', name))
  limits: null, // the server's limits, from welcome
  open: false,
  ws: null,
  welcomed: false,
  connId: 0,
  attempt: 0,
  timer: 0,
  stopped: '', // why we no longer reconnect
  helloError: '',
  session: null, // the open (or just ended) session
  seen: new Set(), // seqs of events shown for S.session
  lastSeq: 0,
  resuming: false,
  firstLoad: true, // events of the first resume are not news
  starting: false,
  pending: [], // {cmid, text, li, connId}
  readMark: { id: '', seq: 0 },
  lastAgentSeq: 0,
  typingOn: false,
  typingAt: 0,
  typingIdle: 0,
  typingFrom: new Map(), // agent name -> timer
  past: null, // {id, first, more}
};

const email = initEmail({ send, session: () => S.session });

// ---- talking to the parent page ----

function toParent(msg) {
  if (S.parentOrigin) window.parent.postMessage({ parley: 1, ...msg }, S.parentOrigin);
}

window.addEventListener('message', (e) => {
  if (window.parent === window || e.source !== window.parent) return;
  const m = e.data;
  if (!m || m.parley !== 1) return;
  if (!S.parentOrigin) {
    // The first message, init, names the parent's origin; the CSP
    // (frame-ancestors) decides which origins may embed this frame.
    if (m.type !== 'init') return;
    S.parentOrigin = e.origin;
  } else if (e.origin !== S.parentOrigin) {
    return;
  }
  switch (m.type) {
    case 'init':
      S.token = m.token || null;
      S.visitor = m.visitor || null;
      S.open = !!m.open;
      S.queue = m.queue || null;
      if (m.read) {
        const [id, seq] = String(m.read).split(':');
        S.readMark = { id, seq: Number(seq) || 0 };
      }
      toParent({ type: 'ready' });
      connect();
      break;
    case 'queue':
      S.queue = m.queue || null;
      break;
    case 'identify':
      if ((m.token || null) !== S.token) {
        S.token = m.token || null;
        restart();
      }
      break;
    case 'open':
      S.open = true;
      markRead();
      ui.msg.focus();
      break;
    case 'close':
      S.open = false;
      break;
  }
});

// ---- the connection ----

function wsURL() {
  return (location.protocol === 'https:' ? 'wss' : 'ws') + '://' + location.host + '/v1/customer/ws';
}

function send(frame) {
  if (!S.ws || S.ws.readyState !== WebSocket.OPEN) return false;
  S.ws.send(JSON.stringify(frame));
  return true;
}

function connect() {
  if (S.ws || S.stopped || !S.parentOrigin) return;
  clearTimeout(S.timer);
  const ws = new WebSocket(wsURL());
  S.ws = ws;
  ws.addEventListener('open', () => {
    const hello = { type: 'hello', req: 'hello' };
    const token = S.token || S.visitor;
    if (token) hello.token = token;
    ws.send(JSON.stringify(hello));
  });
  ws.addEventListener('message', (e) => {
    if (S.ws !== ws) return;
    let f;
    try { f = JSON.parse(e.data); } catch { return; }
    onFrame(f);
  });
  ws.addEventListener('close', (e) => {
    if (S.ws !== ws) return;
    S.ws = null;
    S.welcomed = false;
    S.resuming = false;
    S.starting = false;
    onClosed(e.code);
  });
}

function onClosed(code) {
  if (code === 4401) {
    if (!S.token && S.visitor) {
      // The visitor token expired: come back as a new visitor.
      S.visitor = null;
      toParent({ type: 'visitor', token: null });
    } else {
      return stop(S.token ? 'Your session on this site has expired: reload the page to chat.'
        : (S.helloError || 'Sign in on this site to chat with us.'));
    }
  } else if (code === 4400 || code === 4403) {
    return stop(S.helloError || 'The chat is not available.');
  }
  setBanner('Connection lost. Reconnecting…');
  render();
  const base = Math.min(30000, 500 * 2 ** S.attempt);
  S.attempt++;
  S.timer = setTimeout(connect, base / 2 + Math.random() * base / 2);
}

function stop(why) {
  S.stopped = why;
  setBanner(why);
  render();
}

function reconnectNow() {
  if (!S.ws && !S.stopped && S.parentOrigin) {
    clearTimeout(S.timer);
    connect();
  }
}

// restart drops everything tied to the old identity and connects again.
function restart() {
  const ws = S.ws;
  S.ws = null;
  if (ws) ws.close();
  clearTimeout(S.timer);
  S.stopped = '';
  S.welcomed = false;
  S.attempt = 0;
  clearSession();
  S.pending.forEach((p) => p.li.remove());
  S.pending = [];
  connect();
}

window.addEventListener('online', reconnectNow);
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') {
    reconnectNow();
    markRead();
  }
});

// ---- frames from the server ----

function onFrame(f) {
  if (email.onFrame(f)) return;
  switch (f.type) {
    case 'welcome': return onWelcome(f);
    case 'session': return onSession(f);
    case 'event': return onEvent(f.session_id, f.event);
    case 'resumed': return onResumed(f);
    case 'queue':
      if (S.session && f.session_id === S.session.id) {
        S.session.position = f.position;
        S.session.ewt_s = f.ewt_s;
        S.session.ewtAt = Date.now();
        if ('agents_available' in f) S.session.agents_available = f.agents_available;
        render();
      }
      return;
    case 'typing': return onTyping(f);
    case 'sent': return onSent(f);
    case 'history': return onHistory(f);
    case 'sessions': return renderPastList(f.sessions || []);
    case 'error': return onError(f);
  }
}

// applyLimits keeps the server's limits from welcome: the composer takes
// no more than a message may hold, and files.js refuses files over the
// size limit before uploading them.
function applyLimits(limits) {
  if (!limits) return;
  S.limits = limits;
  if (limits.max_message_chars > 0) ui.msg.maxLength = limits.max_message_chars;
}

function onWelcome(f) {
  S.welcomed = true;
  S.attempt = 0;
  S.connId++;
  S.helloError = '';
  setBanner('');
  applyLimits(f.limits);
  if (f.token) {
    S.visitor = f.token;
    toParent({ type: 'visitor', token: f.token });
  }
  const c = f.customer || {};
  ui.subtitle.textContent = c.name && !c.visitor ? 'Signed in as ' + c.name : '';
  const open = f.open_session;
  if (open) {
    if (S.session && S.session.id !== open.id) clearSession();
    adopt(open);
    resume();
  } else if (S.session && S.session.state !== 'ended') {
    // It ended while we were away: fetch its last events.
    send({ type: 'history', session_id: S.session.id, limit: 50, req: 'tail' });
    flush();
  } else {
    flush();
  }
  render();
}

function adopt(session) {
  if (!S.session || S.session.id !== session.id) {
    clearSession();
    S.session = { ...session };
  } else {
    Object.assign(S.session, session);
  }
  if ('ewt_s' in session) S.session.ewtAt = Date.now();
  toParent({ type: 'conversation', open: session.state !== 'ended' });
}

function resume() {
  S.resuming = true;
  send({ type: 'resume', session_id: S.session.id, after_seq: S.lastSeq, req: 'resume' });
}

function onSession(f) {
  if (f.re === 'start') S.starting = false;
  adopt(f.session);
  if (f.re === 'start') flush();
  render();
}

function onResumed(f) {
  if (!S.session || f.session_id !== S.session.id) return;
  S.lastSeq = Math.max(S.lastSeq, f.through_seq || 0);
  if (f.more) {
    send({ type: 'resume', session_id: S.session.id, after_seq: S.lastSeq, req: 'resume' });
    return;
  }
  S.resuming = false;
  S.firstLoad = false;
  flush();
  markRead();
  render();
}

function onEvent(sessionID, ev) {
  if (!ev) return;
  if (!S.session || S.session.id !== sessionID) {
    // A session started elsewhere (another tab of this customer).
    if (ev.kind !== 'queued' || (S.session && S.session.state !== 'ended')) return;
    clearSession();
    S.session = { id: sessionID, state: 'queued', agents: [] };
    toParent({ type: 'conversation', open: true });
  }
  addEvent(ev);
  render();
}

function onHistory(f) {
  if (f.re === 'tail') {
    if (!S.session || f.session_id !== S.session.id) return;
    (f.events || []).forEach(addEvent);
    if (S.session.state !== 'ended') S.session.state = 'ended';
    toParent({ type: 'conversation', open: false });
    flush();
    render();
  } else if (f.re === 'past' && S.past && f.session_id === S.past.id) {
    renderPastPage(f);
  }
}

function onSent(f) {
  const p = S.pending.find((x) => x.cmid === f.client_msg_id);
  if (!p) return;
  p.acked = true;
  // The event follows (or came before, on a duplicate).
  if (S.seen.has(f.seq)) dropPending(p);
}

function onError(f) {
  if (email.onError(f)) return;
  const re = f.re || '';
  if (re === 'hello') {
    S.helloError = f.code === 'unauthorized' && !S.token ? '' : f.message;
  } else if (re === 'start') {
    S.starting = false;
    setBanner(f.message);
  } else if (re === 'resume') {
    S.resuming = false;
    if (f.code === 'conflict' && S.session) {
      // Ended meanwhile: read its end from history.
      send({ type: 'history', session_id: S.session.id, limit: 50, req: 'tail' });
    } else if (f.code === 'unavailable' && S.session) {
      // Not ready (its start is under way, or the server's disk is
      // failing): try again on this connection after the hint.
      const conn = S.connId, id = S.session.id;
      setTimeout(() => {
        if (S.connId === conn && S.welcomed && !S.resuming && S.session && S.session.id === id) resume();
      }, f.retry_after_ms || 1000);
    }
  } else if (re.startsWith('send:')) {
    const p = S.pending.find((x) => 'send:' + x.cmid === re);
    if (p && f.code !== 'unavailable' && f.code !== 'internal') {
      dropPending(p);
      setBanner('Not sent: ' + f.message);
    }
  } else if (re === 'past') {
    setBanner(f.message);
  }
}

function onTyping(f) {
  const from = f.from || {};
  if (from.role !== 'agent' || !S.session || f.session_id !== S.session.id) return;
  const name = from.name || 'The agent';
  clearTimeout(S.typingFrom.get(name));
  if (f.active === false) S.typingFrom.delete(name);
  else S.typingFrom.set(name, setTimeout(() => { S.typingFrom.delete(name); renderTyping(); }, 8000));
  renderTyping();
}

// ---- the session's events ----

function clearSession() {
  S.session = null;
  S.seen.clear();
  S.lastSeq = 0;
  S.lastAgentSeq = 0;
  S.resuming = false;
  S.typingFrom.forEach((t) => clearTimeout(t));
  S.typingFrom.clear();
  for (const li of [...ui.log.children]) if (!li.classList.contains('pending')) li.remove();
  renderTyping();
}

function addEvent(ev) {
  if (S.seen.has(ev.seq)) return;
  S.seen.add(ev.seq);
  S.lastSeq = Math.max(S.lastSeq, ev.seq);
  const s = S.session;
  const from = ev.from || {};
  switch (ev.kind) {
    case 'agent_joined':
      s.state = 'active';
      s.agents = (s.agents || []).filter((a) => a.id !== from.id).concat([{ id: from.id, name: from.name }]);
      break;
    case 'agent_left':
      s.agents = (s.agents || []).filter((a) => a.id !== from.id);
      if (!s.agents.length && s.state !== 'ended') s.state = 'queued';
      break;
    case 'ended':
      s.state = 'ended';
      toParent({ type: 'conversation', open: false });
      break;
    case 'file': // files.js; read receipts and unread counts cover them
      if (from.role === 'agent') S.lastAgentSeq = Math.max(S.lastAgentSeq, ev.seq);
      break;
    case 'message':
      if (from.role === 'customer' && ev.client_msg_id) {
        const p = S.pending.find((x) => x.cmid === ev.client_msg_id);
        if (p) dropPending(p);
      }
      if (from.role === 'agent') {
        S.lastAgentSeq = Math.max(S.lastAgentSeq, ev.seq);
        clearTimeout(S.typingFrom.get(from.name));
        S.typingFrom.delete(from.name);
        renderTyping();
        if (!S.firstLoad || !S.resuming) {
          toParent({ type: 'message', message: { session_id: s.id, seq: ev.seq, text: ev.text, at: ev.at, from: { role: from.role, name: from.name } } });
        }
      }
      break;
  }
  insertSorted(ui.log, eventItem(ev), ev.seq);
  markRead();
  updateUnread();
}

// insertSorted keeps events in seq order, before the pending messages.
function insertSorted(list, li, seq) {
  li.dataset.seq = String(seq);
  let before = null;
  for (const other of list.children) {
    if (other.classList.contains('pending') || Number(other.dataset.seq) > seq) {
      before = other;
      break;
    }
  }
  list.insertBefore(li, before);
  if (list === ui.log) scrollDown();
}

function eventItem(ev, sessionID) {
  const from = ev.from || {};
  const li = document.createElement('li');
  if (ev.kind === 'file') { // files.js
    const mine = from.role === 'customer';
    li.className = 'msg file ' + (mine ? 'mine' : 'agent');
    if (!mine) li.append(el('div', 'who', from.name || 'Support'));
    const ctx = { sessionID: sessionID || (S.session && S.session.id), headers: authHeaders, onError: setBanner };
    li.append(fileBody(ev, ctx), el('div', 'meta', timeOf(ev.at)));
    return li;
  }
  if (ev.kind === 'message') {
    const mine = from.role === 'customer';
    li.className = 'msg ' + (mine ? 'mine' : from.role === 'agent' ? 'agent' : 'system');
    if (!mine) li.append(el('div', 'who', from.name || 'Support'));
    const bubble = el('div', 'bubble');
    appendLinkified(bubble, ev.text || '');
    li.append(bubble, el('div', 'meta', timeOf(ev.at)));
    return li;
  }
  li.className = isWarning(ev) ? 'sys warn' : 'sys';
  const name = from.name || 'An agent';
  const notice = noticeText(ev, name);
  if (notice) {
    li.textContent = notice;
    return li;
  }
  const text = {
    queued: 'Waiting for an agent…',
    agent_joined: name + ' joined the chat',
    agent_left: name + ' left the chat',
    ended: ev.reason === 'customer' ? 'You ended the chat' : 'The chat was ended by ' + (ev.reason === 'agent' ? name : 'the team'),
  }[ev.kind] || ev.kind;
  li.textContent = text;
  return li;
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = text;
  return e;
}

// appendLinkified adds text to parent as text nodes, with http(s) URLs
// as links built as elements.
function appendLinkified(parent, text) {
  const re = /\bhttps?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]]/g;
  let last = 0;
  for (const m of text.matchAll(re)) {
    let url;
    try { url = new URL(m[0]); } catch { continue; }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') continue;
    parent.append(document.createTextNode(text.slice(last, m.index)));
    const a = el('a', '', m[0]);
    a.href = url.href;
    a.target = '_blank';
    a.rel = 'noopener noreferrer';
    parent.append(a);
    last = m.index + m[0].length;
  }
  parent.append(document.createTextNode(text.slice(last)));
}

function timeOf(at) {
  const d = at ? new Date(at) : new Date();
  return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

function scrollDown() {
  ui.chatView.scrollTop = ui.chatView.scrollHeight;
}

// ---- sending ----

function newID() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return Date.now().toString(36) + '-' + Math.random().toString(36).slice(2);
}

function submit() {
  const text = ui.msg.value;
  if (!text.trim() || S.stopped) return;
  if (S.session && S.session.state === 'ended') clearSession();
  ui.msg.value = '';
  autosize();
  typing(false);
  const li = el('li', 'msg mine pending');
  const bubble = el('div', 'bubble');
  appendLinkified(bubble, text);
  li.append(bubble, el('div', 'meta', 'Sending…'));
  ui.log.append(li);
  scrollDown();
  S.pending.push({ cmid: newID(), text, li, connId: -1 });
  flush();
  render();
}

// flush sends every message not yet sent on this connection, starting a
// session first when there is none. A message sent again after a
// reconnect keeps its client_msg_id, so it is stored once.
function flush() {
  if (!S.welcomed || S.resuming || !S.pending.length) return;
  if (!S.session || S.session.state === 'ended') {
    if (!S.starting) {
      S.starting = true;
      send(S.queue ? { type: 'start', req: 'start', queue: S.queue } : { type: 'start', req: 'start' });
    }
    return;
  }
  for (const p of S.pending) {
    if (p.connId === S.connId) continue;
    if (send({ type: 'send', text: p.text, client_msg_id: p.cmid, req: 'send:' + p.cmid })) p.connId = S.connId;
  }
}

function dropPending(p) {
  p.li.remove();
  S.pending = S.pending.filter((x) => x !== p);
}

function typing(active) {
  if (!S.welcomed || !S.session || S.session.state === 'ended') return;
  clearTimeout(S.typingIdle);
  if (active) {
    const now = Date.now();
    if (!S.typingOn || now - S.typingAt > 3000) {
      send({ type: 'typing', active: true });
      S.typingOn = true;
      S.typingAt = now;
    }
    S.typingIdle = setTimeout(() => typing(false), 4000);
  } else if (S.typingOn) {
    send({ type: 'typing', active: false });
    S.typingOn = false;
  }
}

function markRead() {
  const s = S.session;
  if (!s || !S.open || document.visibilityState !== 'visible' || !S.welcomed) return;
  const mark = S.readMark.id === s.id ? S.readMark.seq : 0;
  if (S.lastAgentSeq > mark && s.state !== 'ended') send({ type: 'read', seq: S.lastAgentSeq });
  if (S.lastAgentSeq > mark) {
    S.readMark = { id: s.id, seq: S.lastAgentSeq };
    toParent({ type: 'read', read: s.id + ':' + S.lastAgentSeq });
  }
  updateUnread();
}

function updateUnread() {
  const s = S.session;
  let n = 0;
  if (s && !S.open) {
    const mark = S.readMark.id === s.id ? S.readMark.seq : 0;
    for (const li of ui.log.querySelectorAll('li.agent')) if (Number(li.dataset.seq) > mark) n++;
  }
  if (n !== S.unreadSent) {
    S.unreadSent = n;
    toParent({ type: 'unread', count: n });
  }
}

// ---- past conversations and transcripts ----

function showPast(on) {
  ui.pastView.hidden = !on;
  ui.chatView.hidden = on;
  ui.composer.hidden = on;
  ui.pastBtn.hidden = on;
  if (!on) return render();
  S.past = null;
  ui.pastDetail.hidden = true;
  ui.pastList.hidden = false;
  ui.pastTitle.textContent = 'Past chats (last 14 days)';
  ui.pastList.replaceChildren();
  ui.pastEmpty.hidden = true;
  if (!send({ type: 'sessions', req: 'sessions' })) {
    fetchJSON('/v1/customer/sessions').then((f) => renderPastList(f.sessions || [])).catch((e) => setBanner(e.message));
  }
  ui.backBtn.focus();
}

function renderPastList(list) {
  ui.pastList.replaceChildren();
  ui.pastEmpty.hidden = list.length > 0;
  for (const s of list) {
    const b = el('button', 'past-item');
    b.type = 'button';
    const when = new Date(s.created_at).toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' });
    const who = (s.agents || []).map((a) => a.name).join(', ');
    b.append(el('strong', '', when), el('span', 'muted', s.state === 'ended' ? 'ended' : 'open' + (who ? ' · ' + who : '')));
    b.addEventListener('click', () => openPast(s));
    const li = el('li');
    li.append(b);
    ui.pastList.append(li);
  }
}

function openPast(s) {
  S.past = { id: s.id, first: 0, more: false };
  ui.pastList.hidden = true;
  ui.pastEmpty.hidden = true;
  ui.pastDetail.hidden = false;
  ui.pastLog.replaceChildren();
  ui.pastTitle.textContent = 'Chat of ' + new Date(s.created_at).toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' });
  loadPast(0);
}

function loadPast(before) {
  const q = { type: 'history', session_id: S.past.id, before_seq: before, limit: 100, req: 'past' };
  if (!send(q)) {
    fetchJSON('/v1/customer/sessions/' + encodeURIComponent(S.past.id) + '/events?limit=100&before_seq=' + before)
      .then((f) => renderPastPage({ ...f, session_id: S.past.id })).catch((e) => setBanner(e.message));
  }
}

function renderPastPage(f) {
  const events = f.events || [];
  for (const ev of events.slice().reverse()) {
    const li = eventItem(ev, S.past.id);
    li.dataset.seq = String(ev.seq);
    ui.pastLog.prepend(li);
  }
  if (events.length) S.past.first = events[0].seq;
  S.past.more = !!f.more;
  ui.olderBtn.hidden = !f.more;
}

function authHeaders() {
  return { Authorization: 'Bearer ' + (S.token || S.visitor) };
}

async function fetchJSON(path) {
  const res = await fetch(path, { headers: authHeaders(), cache: 'no-store' });
  const body = await res.json();
  if (!res.ok) throw new Error(body.message || res.statusText);
  return body;
}

// download fetches a transcript with the token in a header and saves it
// through a blob URL, so the token never appears in a URL.
async function download(id) {
  try {
    const res = await fetch('/v1/customer/sessions/' + encodeURIComponent(id) + '/transcript?format=txt',
      { headers: authHeaders(), cache: 'no-store' });
    if (!res.ok) throw new Error((await res.json()).message || res.statusText);
    const url = URL.createObjectURL(await res.blob());
    const a = el('a');
    a.href = url;
    a.download = 'chat-' + id + '.txt';
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (e) {
    setBanner('Could not download the transcript: ' + e.message);
  }
}

// ---- rendering ----

function setBanner(text) {
  ui.banner.textContent = text;
  ui.banner.hidden = !text;
}

function render() {
  const s = S.session;
  const state = s ? s.state : 'none';
  const agents = s && s.agents ? s.agents.map((a) => a.name).filter(Boolean) : [];
  ui.title.textContent = state === 'active' && agents.length ? 'Chatting with ' + agents.join(', ') : 'Chat with us';
  ui.intro.hidden = !!s || S.pending.length > 0;
  ui.queueCard.hidden = state !== 'queued';
  if (state === 'queued') {
    ui.queuePos.textContent = s.position === 1 ? 'You are next in line.'
      : s.position ? 'You are number ' + s.position + ' in line.' : 'Waiting for an agent…';
    // With nobody available the server sends no estimate: say so plainly.
    ui.queueWait.textContent = s.agents_available === 0
      ? 'No agent is online right now; we will answer here as soon as someone is back.'
      : waitText(s);
  }
  ui.endedCard.hidden = state !== 'ended';
  ui.endBtn.hidden = !(state === 'queued' || state === 'active') || !ui.pastView.hidden;
  ui.msg.disabled = !!S.stopped;
  ui.sendBtn.disabled = !!S.stopped;
  ui.msg.placeholder = state === 'ended' ? 'Write to start a new chat…' : 'Write a message…';
  email.render(s);
}

// waitText counts the server's estimate down from when it came: a customer
// told "about 3 minutes" is not told the same 5 minutes later. Past the
// estimate it says so; a new estimate from the server starts again.
function waitText(s) {
  if (s.ewt_s == null) return '';
  const left = s.ewt_s - (Date.now() - (s.ewtAt || Date.now())) / 1000;
  if (left <= 0) return 'It is taking longer than we estimated; you keep your place in line.';
  return 'Estimated wait: ' + wait(left) + '.';
}

// While the customer waits with an estimate, keep its countdown current.
setInterval(() => {
  if (S.session && S.session.state === 'queued' && S.session.ewt_s != null) render();
}, 5000);

function wait(sec) {
  if (sec < 60) return 'less than a minute';
  const min = Math.round(sec / 60);
  return min === 1 ? 'about 1 minute' : 'about ' + min + ' minutes';
}

function renderTyping() {
  const names = [...S.typingFrom.keys()];
  ui.typing.textContent = names.length ? names.join(', ') + (names.length > 1 ? ' are' : ' is') + ' typing…' : '';
}

function autosize() {
  ui.msg.style.height = 'auto';
  ui.msg.style.height = Math.min(ui.msg.scrollHeight, 140) + 'px';
}

// ---- wiring ----

ui.composer.addEventListener('submit', (e) => {
  e.preventDefault();
  submit();
});
ui.msg.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    submit();
  }
});
ui.msg.addEventListener('input', () => {
  autosize();
  typing(ui.msg.value.trim() !== '');
});
ui.endBtn.addEventListener('click', () => send({ type: 'end', req: 'end' }));
ui.newBtn.addEventListener('click', () => {
  clearSession();
  render();
  ui.msg.focus();
});
ui.downloadBtn.addEventListener('click', () => S.session && download(S.session.id));
ui.pastDownload.addEventListener('click', () => S.past && download(S.past.id));
ui.pastBtn.addEventListener('click', () => showPast(true));
ui.backBtn.addEventListener('click', () => {
  if (S.past) {
    S.past = null;
    ui.pastDetail.hidden = true;
    ui.pastList.hidden = false;
    ui.pastTitle.textContent = 'Past chats (last 14 days)';
    if (!send({ type: 'sessions', req: 'sessions' })) showPast(true);
  } else {
    showPast(false);
    ui.msg.focus();
  }
});
ui.olderBtn.addEventListener('click', () => S.past && loadPast(S.past.first));
ui.closeBtn.addEventListener('click', () => toParent({ type: 'close' }));
document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape') toParent({ type: 'close' });
});

initUploads({
  composer: ui.composer, dropZone: document.querySelector('.app'), headers: authHeaders,
  sessionID: () => (S.session && S.session.state !== 'ended' && !S.stopped ? S.session.id : null),
  maxFileSize: () => S.limits && S.limits.max_file_size,
  onError: setBanner, onDone: () => setBanner(''),
});

if (window.parent === window) {
  stop('This is the Parley chat frame: add widget.js to a page to use it.');
}
render();
