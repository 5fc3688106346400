/*! Parley chat widget loader. Add to a page with
 *   <script src="https://chat.example.com/widget.js" async></script>
 * API: Parley('identify', customerToken) · Parley('open') · Parley('close')
 *      Parley('queue', 'sales') (the queue new chats start in)
 *      Parley('reset') · Parley('on', 'message', fn)
 * Calls made before this file loads are kept by the stub
 *   window.Parley=window.Parley||function(){(window.Parley.q=window.Parley.q||[]).push(arguments)};
 * and run once it has. It styles its own elements only (element.style),
 * keeps the visitor token in this page's localStorage (or in memory), and
 * talks to its frame by postMessage with an explicit target origin. */
(function () {
  'use strict';
  var w = window, d = document;
  if (w.Parley && w.Parley.loaded) return;

  var script = d.currentScript || d.querySelector('script[src$="/widget.js"]');
  var origin = new URL(script.src, location.href).origin;
  var queued = (w.Parley && w.Parley.q) || [];
  var KEY = 'parley:' + origin + ':';
  var mem = {};

  function load(k) {
    try { return localStorage.getItem(KEY + k); } catch (e) { return mem[k] || null; }
  }
  function save(k, v) {
    try {
      if (v == null) localStorage.removeItem(KEY + k); else localStorage.setItem(KEY + k, v);
    } catch (e) {
      if (v == null) delete mem[k]; else mem[k] = v;
    }
  }

  var token = null, open = false, frame = null, ready = false, unread = 0, queueName = null;
  var handlers = { message: [] };

  function css(el, styles) {
    for (var k in styles) el.style[k] = styles[k];
    return el;
  }
  function el(tag, styles) { return css(d.createElement(tag), styles || {}); }

  // The launcher: a round button with a chat icon and an unread badge.
  var launcher = el('button', {
    position: 'fixed', right: '20px', bottom: '20px', width: '56px', height: '56px',
    borderRadius: '50%', border: '0', padding: '0', margin: '0', cursor: 'pointer',
    background: '#2d5bd1', color: '#fff', boxShadow: '0 4px 14px rgba(0,0,0,.25)',
    zIndex: '2147483000', display: 'flex', alignItems: 'center', justifyContent: 'center',
  });
  launcher.type = 'button';
  launcher.id = 'parley-launcher';
  launcher.setAttribute('aria-label', 'Open chat');
  launcher.setAttribute('aria-expanded', 'false');
  launcher.setAttribute('aria-controls', 'parley-box');
  var NS = 'http://www.w3.org/2000/svg';
  var svg = d.createElementNS(NS, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('width', '26');
  svg.setAttribute('height', '26');
  svg.setAttribute('aria-hidden', 'true');
  var path = d.createElementNS(NS, 'path');
  path.setAttribute('fill', 'currentColor');
  path.setAttribute('d', 'M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z');
  svg.appendChild(path);
  launcher.appendChild(svg);
  var badge = el('span', {
    position: 'absolute', top: '-4px', right: '-4px', minWidth: '20px', height: '20px',
    padding: '0 5px', borderRadius: '10px', background: '#d93025', color: '#fff',
    font: 'bold 12px/20px system-ui, sans-serif', textAlign: 'center', display: 'none',
    boxSizing: 'border-box',
  });
  badge.id = 'parley-badge';
  launcher.appendChild(badge);

  // The box that holds the frame.
  var box = el('div', {
    position: 'fixed', zIndex: '2147483001', display: 'none', overflow: 'hidden',
    background: '#fff', boxShadow: '0 8px 30px rgba(0,0,0,.3)',
  });
  box.id = 'parley-box';

  function layout() {
    var vv = w.visualViewport;
    var small = (vv ? vv.width : w.innerWidth) < 640;
    if (small) {
      // Full screen, sized with the visual viewport so that the on-screen
      // keyboard does not hide the input.
      css(box, {
        left: (vv ? vv.offsetLeft : 0) + 'px', top: (vv ? vv.offsetTop : 0) + 'px',
        right: 'auto', bottom: 'auto', width: (vv ? vv.width : w.innerWidth) + 'px',
        height: (vv ? vv.height : w.innerHeight) + 'px', borderRadius: '0',
      });
    } else {
      css(box, {
        left: 'auto', top: 'auto', right: '20px', bottom: '88px', width: '380px',
        height: 'min(620px, calc(100vh - 110px))', borderRadius: '14px',
      });
    }
    launcher.style.display = small && open ? 'none' : 'flex';
  }

  function post(msg) {
    if (frame && ready) frame.contentWindow.postMessage(msg, origin);
  }

  function ensureFrame() {
    if (frame) return;
    frame = el('iframe', { border: '0', width: '100%', height: '100%', display: 'block' });
    frame.id = 'parley-frame';
    frame.title = 'Chat';
    frame.src = origin + '/frame/';
    frame.addEventListener('load', function () {
      // The first message tells the frame who its parent is; the token
      // goes only to the frame's origin.
      ready = true;
      frame.contentWindow.postMessage({ parley: 1, type: 'init', token: token,
        visitor: load('visitor'), read: load('read'), open: open, queue: queueName }, origin);
    });
    box.appendChild(frame);
  }

  function setUnread(n) {
    unread = n;
    badge.textContent = n > 99 ? '99+' : String(n);
    badge.style.display = n > 0 && !open ? 'block' : 'none';
    launcher.setAttribute('aria-label', n > 0 && !open ? 'Open chat (' + n + ' unread)' : 'Open chat');
  }

  function show() {
    ensureFrame();
    open = true;
    box.style.display = 'block';
    launcher.setAttribute('aria-expanded', 'true');
    layout();
    setUnread(unread);
    post({ parley: 1, type: 'open' });
    frame.focus();
  }

  function hide() {
    var inside = d.activeElement === frame;
    open = false;
    box.style.display = 'none';
    launcher.setAttribute('aria-expanded', 'false');
    layout();
    setUnread(unread);
    post({ parley: 1, type: 'close' });
    if (inside) launcher.focus();
  }

  function reset() {
    token = null;
    save('visitor', null);
    save('open', null);
    save('read', null);
    if (frame) box.removeChild(frame);
    frame = null;
    ready = false;
    if (open) hide();
    setUnread(0);
  }

  w.addEventListener('message', function (e) {
    if (e.origin !== origin || !frame || e.source !== frame.contentWindow) return;
    var m = e.data;
    if (!m || m.parley !== 1) return;
    switch (m.type) {
      case 'ready': frame.setAttribute('data-ready', ''); break;
      case 'close': hide(); break;
      case 'visitor': save('visitor', m.token || null); break;
      case 'conversation': save('open', m.open ? '1' : null); break;
      case 'read': save('read', m.read || null); break;
      case 'unread': setUnread(m.count | 0); break;
      case 'message':
        for (var i = 0; i < handlers.message.length; i++) {
          try { handlers.message[i](m.message); } catch (err) { setTimeout(function () { throw err; }); }
        }
        break;
    }
  });
  d.addEventListener('keydown', function (e) {
    if (e.key === 'Escape' && open) hide();
  });
  launcher.addEventListener('click', function () { if (open) hide(); else show(); });
  if (w.visualViewport) {
    w.visualViewport.addEventListener('resize', layout);
    w.visualViewport.addEventListener('scroll', layout);
  } else {
    w.addEventListener('resize', layout);
  }

  function api(cmd, arg, fn) {
    switch (cmd) {
      case 'identify':
        if (arg === token) return;
        token = arg || null;
        post({ parley: 1, type: 'identify', token: token });
        break;
      case 'queue':
        queueName = arg ? String(arg) : null;
        post({ parley: 1, type: 'queue', queue: queueName });
        break;
      case 'open': show(); break;
      case 'ready': frame.setAttribute('data-ready', ''); break;
      case 'close': hide(); break;
      case 'reset': reset(); break;
      case 'on':
        if (typeof fn === 'function' && handlers[arg]) handlers[arg].push(fn);
        break;
    }
  }
  w.Parley = function () { api.apply(null, arguments); };
  w.Parley.loaded = true;

  function start() {
    d.body.appendChild(box);
    d.body.appendChild(launcher);
    layout();
    for (var i = 0; i < queued.length; i++) api.apply(null, queued[i]);
    // A conversation is open: load the frame now, to show unread messages.
    if (load('open') && !frame) ensureFrame();
  }
  if (d.body) start(); else d.addEventListener('DOMContentLoaded', start);
})();
