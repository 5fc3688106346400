// The agent WebSocket: hello with the token, request/answer matching by
// req/re, and reconnection with backoff and jitter.

const maxBackoffMs = 15000;
const requestTimeoutMs = 20000;

/** wsURL returns the same-origin WebSocket URL for path. */
export function wsURL(path) {
  return (location.protocol === 'https:' ? 'wss' : 'ws') + '://' + location.host + path;
}

/** AgentConn keeps one agent socket open until stop is called. */
export class AgentConn {
  /**
   * handlers: onWelcome(frame) after each successful hello, onFrame(frame)
   * for every other frame, onState(state) with 'connecting', 'open' or
   * 'waiting', onAuthFail(code) when the token is refused.
   */
  constructor(token, handlers) {
    this.token = token;
    this.h = handlers;
    this.ws = null;
    this.state = 'idle';
    this.attempt = 0;
    this.timer = 0;
    this.seq = 0;
    this.pending = new Map();
    this.stopped = false;
    this.lastClose = 0; // close code of the previous socket, 0 before the first
    this.onOnline = () => this.now();
    this.onVisible = () => { if (document.visibilityState === 'visible') this.now(); };
    window.addEventListener('online', this.onOnline);
    document.addEventListener('visibilitychange', this.onVisible);
  }

  /** start opens the first connection. */
  start() { this.connect(); }

  /** stop closes the socket and never reconnects. */
  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    window.removeEventListener('online', this.onOnline);
    document.removeEventListener('visibilitychange', this.onVisible);
    if (this.ws) this.ws.close(1000, 'sign out');
    this.failAll('signed out');
  }

  /** isOpen reports whether hello succeeded on the current socket. */
  get isOpen() { return this.state === 'open'; }

  /** now reconnects at once when the socket is down and waiting to retry. */
  now() {
    if (this.stopped || this.state !== 'waiting') return;
    clearTimeout(this.timer);
    this.connect();
  }

  /** drop closes the current socket; it reconnects as after any failure. */
  drop() { if (this.ws) this.ws.close(); }

  /**
   * abandon gives up on a socket that stopped answering (a dead network
   * path can take minutes to be noticed) and connects a new one at once.
   */
  abandon() {
    const ws = this.ws;
    if (!ws || this.stopped) return;
    this.ws = null;
    try { ws.close(); } catch { /* already closing */ }
    this.failAll('connection lost');
    this.lastClose = 1006;
    this.retry();
  }

  setState(s) {
    this.state = s;
    if (this.h.onState) this.h.onState(s);
  }

  connect() {
    if (this.stopped) return;
    this.setState('connecting');
    let ws;
    try {
      ws = new WebSocket(wsURL('/v1/agent/ws'));
    } catch {
      this.retry();
      return;
    }
    this.ws = ws;
    ws.addEventListener('open', () => {
      ws.send(JSON.stringify({ type: 'hello', token: this.token, req: this.nextReq() }));
    });
    ws.addEventListener('message', (ev) => {
      if (ws !== this.ws || typeof ev.data !== 'string') return;
      let f;
      try { f = JSON.parse(ev.data); } catch { return; }
      if (!f || typeof f.type !== 'string') return;
      if (f.type === 'welcome') {
        this.attempt = 0;
        this.setState('open');
        this.h.onWelcome(f);
        return;
      }
      this.answer(f);
      this.h.onFrame(f);
    });
    ws.addEventListener('close', (ev) => {
      if (ws !== this.ws) return;
      this.ws = null;
      this.lastClose = ev.code;
      this.failAll('connection closed');
      if (this.stopped) return;
      if (ev.code === 4401 || ev.code === 4403) {
        this.stopped = true;
        this.setState('idle');
        this.h.onAuthFail(ev.code);
        return;
      }
      this.retry();
    });
  }

  retry() {
    this.setState('waiting');
    const base = Math.min(maxBackoffMs, 500 * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 10);
    const delay = base / 2 + Math.random() * base / 2;
    this.timer = setTimeout(() => this.connect(), delay);
  }

  nextReq() { this.seq += 1; return 'c' + this.seq; }

  /** send writes frame if the socket is open and reports whether it did. */
  send(frame) {
    if (!this.isOpen || !this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  /**
   * request sends frame with a fresh req and resolves with the first answer
   * of type until (an error answer rejects). Every answer frame is also
   * given to onFrame.
   */
  request(frame, until) {
    return new Promise((resolve, reject) => {
      const req = this.nextReq();
      if (!this.send({ ...frame, req })) {
        reject(Object.assign(new Error('Not connected.'), { code: 'offline' }));
        return;
      }
      const timer = setTimeout(() => {
        this.pending.delete(req);
        reject(Object.assign(new Error('No answer from the server.'), { code: 'timeout' }));
        this.abandon();
      }, requestTimeoutMs);
      this.pending.set(req, { until, resolve, reject, timer });
    });
  }

  answer(f) {
    if (!f.re) return;
    const p = this.pending.get(f.re);
    if (!p) return;
    if (f.type === 'error') {
      this.pending.delete(f.re);
      clearTimeout(p.timer);
      p.reject(Object.assign(new Error(f.message || 'Request failed.'), { code: f.code }));
    } else if (f.type === p.until) {
      this.pending.delete(f.re);
      clearTimeout(p.timer);
      p.resolve(f);
    }
  }

  failAll(why) {
    for (const [req, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(Object.assign(new Error(why), { code: 'offline' }));
      this.pending.delete(req);
    }
  }
}
