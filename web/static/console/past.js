// A customer's earlier conversation, read-only. The customer pane lists the
// customer's previous conversations; clicking one opens it here, in the
// main pane instead of the open chat: a header saying it is a past
// conversation (its date and how it ended), its events paged backwards with
// history before_seq ("Load older"), no composer, and a button back to the
// open chat. Any agent may read any session (docs/protocol.md, "Agents read
// every session"); nothing here writes to the session. The header's PDF and
// Text buttons download the session's transcript the way the open chat's PDF
// button does (files.js): fetched with the token in the Authorization header
// and saved through a blob: URL, so the token never appears in a URL. Text
// goes in only as text (dom.js).

import { h, clear, replace, dateTime } from './dom.js';
import { eventEl, group, toggleCustomer, renderCustomer, toast } from './view.js';
import { fetchBlob, saveURL } from './files.js';

const pageSize = 50;
const $ = (id) => document.getElementById(id);

let S = null; // the console's state (console.js)
let onBack = () => {};
let P = null; // the open past conversation: {session, events, minSeq, more, loading, error}

const endedBy = {
  customer: 'the customer ended it',
  agent: 'an agent ended it',
  admin: 'an administrator ended it',
  abandoned: 'the customer left before an agent answered',
  inactivity: 'the customer stopped answering',
};

/** endReasonText says how a session ended, for people. */
export function endReasonText(reason) {
  if (!reason) return 'ended';
  return endedBy[reason] || `ended (${reason})`;
}

/**
 * initPast adds the (hidden) past-conversation pane. back is called after
 * the agent leaves it, to redraw the open chat.
 */
export function initPast(state, back) {
  S = state;
  onBack = back;
  if (!$('past')) {
    document.querySelector('main.conversation').append(
      h('section', { id: 'past', className: 'convo past', hidden: true, 'aria-label': 'Past conversation' }));
  }
}

/** pastOpen reports whether a past conversation fills the main pane. */
export function pastOpen() { return !!P; }

/** openPast shows session (a Session from the customer's list) read-only. */
export function openPast(session) {
  P = { session, events: new Map(), minSeq: 0, more: false, loading: false, error: '' };
  if ($('app').classList.contains('show-customer')) toggleCustomer();
  $('empty').hidden = true;
  $('convo').hidden = true;
  const el = $('past');
  el.dataset.session = session.id;
  replace(el,
    h('div', { className: 'convo-head' },
      h('div', { className: 'convo-title' },
        h('h2', { id: 'past-title' }, title(session)),
        h('div', { id: 'past-sub', className: 'muted' }, subtitle(session))),
      h('div', { className: 'actions' },
        h('button', { type: 'button', id: 'past-pdf', title: 'Download this transcript as a PDF', onclick: (ev) => download(ev.currentTarget, 'pdf') }, 'PDF'),
        h('button', { type: 'button', id: 'past-txt', title: 'Download this transcript as plain text', onclick: (ev) => download(ev.currentTarget, 'txt') }, 'Text'),
        h('button', { type: 'button', id: 'past-back', className: 'primary', onclick: back }, '← Back to chat'))),
    h('div', { id: 'past-log', className: 'log', role: 'log', 'aria-label': 'Messages of the past conversation' },
      h('div', { className: 'older-row' },
        h('button', { type: 'button', id: 'past-older', className: 'ghost small', hidden: true, onclick: () => loadPage(false) }, 'Load older')),
      h('p', { id: 'past-status', className: 'muted past-status', role: 'status' }),
      h('ol', { id: 'past-events', className: 'events' })),
    h('div', { id: 'past-note', className: 'closed-note' },
      session.state === 'ended'
        ? 'Read-only: this conversation has ended. Nothing you do here reaches the customer.'
        : 'Read-only: this conversation is still open, and this view does not update. Nothing you do here reaches the customer.'));
  el.hidden = false;
  renderCustomer(S);
  $('past-back').focus();
  loadPage(true);
}

/** closePast hides the past conversation; it reports whether one was open. */
export function closePast() {
  if (!P) return false;
  P = null;
  const el = $('past');
  el.hidden = true;
  delete el.dataset.session;
  clear(el);
  renderCustomer(S);
  return true;
}

function back() {
  if (closePast()) onBack();
}

/**
 * download saves the open past conversation's transcript in format (pdf or
 * txt) as transcript-<id>.<format>, from the same endpoint, with the same
 * helpers, as the open chat's PDF button (files.js).
 */
async function download(btn, format) {
  if (!P) return;
  const id = P.session.id;
  btn.disabled = true;
  try {
    const b = await fetchBlob(`/v1/customer/sessions/${encodeURIComponent(id)}/transcript?format=${format}`, S.token);
    const url = URL.createObjectURL(b);
    saveURL(url, `transcript-${id}.${format}`);
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (err) {
    toast(`Could not download the transcript: ${err.message}`);
  } finally {
    btn.disabled = false;
  }
}

function title(s) {
  const when = dateTime(s.created_at);
  return s.state === 'ended' ? `Past conversation · ${when}` : `Conversation in progress · ${when}`;
}

function subtitle(s) {
  const parts = [];
  if (s.state === 'ended') {
    parts.push(`Ended ${dateTime(s.ended_at)}: ${endReasonText(s.end_reason)}`);
  } else {
    parts.push(s.state === 'queued' ? 'Waiting in the queue' : 'Still open');
  }
  const agents = (s.agents || []).map((a) => a.name).filter(Boolean);
  if (agents.length) parts.push('with ' + agents.join(', '));
  return parts.join(' · ');
}

/**
 * loadPage asks for the page of events before the oldest one shown (the
 * latest page first). An answer for a conversation no longer open is
 * dropped.
 */
async function loadPage(first) {
  const p = P;
  if (!p || p.loading) return;
  p.loading = true;
  p.error = '';
  renderStatus(p);
  try {
    if (!S.conn || !S.conn.isOpen) throw Object.assign(new Error('Not connected.'), { code: 'offline' });
    const r = await S.conn.request({ type: 'history', session_id: p.session.id, before_seq: p.minSeq, limit: pageSize }, 'history');
    if (p !== P) return;
    const evs = r.events || [];
    for (const e of evs) if (e && typeof e.seq === 'number') p.events.set(e.seq, e);
    if (evs.length) p.minSeq = p.minSeq ? Math.min(p.minSeq, evs[0].seq) : evs[0].seq;
    p.more = !!r.more && evs.length > 0;
  } catch (err) {
    if (p !== P) return;
    p.error = err.code === 'offline' ? 'Not connected: try again in a moment.' : (err.message || 'The conversation could not be loaded.');
  } finally {
    p.loading = false;
  }
  const log = $('past-log');
  const fromEnd = log.scrollHeight - log.scrollTop;
  renderEvents(p);
  renderStatus(p);
  log.scrollTop = first ? log.scrollHeight : log.scrollHeight - fromEnd;
}

function renderEvents(p) {
  const list = clear($('past-events'));
  const seqs = [...p.events.keys()].sort((a, b) => a - b);
  for (const s of seqs) group(list.appendChild(eventEl(S, p.events.get(s), p.session.id)));
}

function renderStatus(p) {
  const older = $('past-older');
  older.hidden = !p.more;
  older.disabled = p.loading;
  older.classList.toggle('busy', p.loading);
  const st = $('past-status');
  if (p.error) {
    replace(st, p.error, ' ', h('button', { type: 'button', className: 'link', onclick: () => loadPage(!p.events.size) }, 'Retry'));
  } else if (p.loading && !p.events.size) {
    replace(st, 'Loading…');
  } else if (!p.loading && !p.events.size) {
    replace(st, 'No events.');
  } else {
    clear(st);
  }
  st.hidden = !st.firstChild;
}
