// Files in the widget: an attach button and drag and drop, upload progress,
// image thumbnails and downloads. Uploads go with XMLHttpRequest (for its
// progress events) and downloads with fetch, both with the token in the
// Authorization header; what comes back is shown through blob: URLs, so a
// token never appears in a URL. Names are only ever inserted as text.

import { isImage, size, clipIcon, tooLarge } from '/shared/filekit.js';

const blobs = new Map(); // "session/file" -> Promise of a blob: URL

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = text;
  return e;
}

function fileURL(sessionID, fileID) {
  return '/v1/customer/sessions/' + encodeURIComponent(sessionID) + '/files/' + encodeURIComponent(fileID);
}

// blobURL downloads a file once (with the token in a header) and returns a
// blob: URL for it.
function blobURL(sessionID, f, headers) {
  const key = sessionID + '/' + f.id;
  if (!blobs.has(key)) {
    const p = fetch(fileURL(sessionID, f.id), { headers: headers(), cache: 'no-store', credentials: 'omit' })
      .then(async (res) => {
        if (!res.ok) {
          let msg = res.statusText;
          try { msg = (await res.json()).message || msg; } catch { /* not JSON */ }
          throw new Error(msg);
        }
        return URL.createObjectURL(await res.blob());
      });
    p.catch(() => blobs.delete(key));
    blobs.set(key, p);
  }
  return blobs.get(key);
}

// save offers a file as a download through a blob: URL.
async function save(sessionID, f, headers, onError) {
  try {
    const url = await blobURL(sessionID, f, headers);
    const a = el('a');
    a.href = url;
    a.download = f.name || 'file';
    document.body.append(a);
    a.click();
    a.remove();
  } catch (e) {
    onError('Could not download ' + (f.name || 'the file') + ': ' + e.message);
  }
}

/**
 * fileBody returns the bubble content of a file event: a thumbnail for
 * images (click to download), a download button for anything else.
 * ctx: {sessionID, headers(), onError(msg)}.
 */
export function fileBody(ev, ctx) {
  const f = ev.file || {};
  const bubble = el('div', 'bubble file-bubble');
  if (isImage(f)) {
    const img = el('img', 'thumb');
    img.alt = f.name || 'image';
    img.title = (f.name || 'image') + ' (' + size(f.size || 0) + ')';
    img.addEventListener('click', () => save(ctx.sessionID, f, ctx.headers, ctx.onError));
    blobURL(ctx.sessionID, f, ctx.headers).then((url) => { img.src = url; })
      .catch((e) => { img.replaceWith(el('span', 'file-error', 'Image unavailable: ' + e.message)); });
    bubble.append(img);
    return bubble;
  }
  const b = el('button', 'file-link');
  b.type = 'button';
  b.append(el('span', 'file-name', f.name || 'file'), el('span', 'file-size', size(f.size || 0)));
  b.title = 'Download ' + (f.name || 'file');
  b.addEventListener('click', () => save(ctx.sessionID, f, ctx.headers, ctx.onError));
  bubble.append(b);
  return bubble;
}

/**
 * initUploads adds the attach button to the composer and drag and drop to
 * the frame. opts: {composer, dropZone, sessionID() (null without an open
 * session), headers(), onError(msg), onDone(), maxFileSize() (the server's
 * limit in bytes, from welcome; larger files are refused here)}.
 */
export function initUploads(opts) {
  const input = el('input');
  input.type = 'file';
  input.id = 'file-input';
  input.hidden = true;
  const btn = el('button', 'ghost attach');
  btn.append(clipIcon());
  btn.type = 'button';
  btn.id = 'attach-btn';
  btn.title = 'Attach a file';
  btn.setAttribute('aria-label', 'Attach a file');
  const status = el('div', 'upload');
  status.id = 'upload';
  status.setAttribute('role', 'status');
  status.hidden = true;
  const label = el('span', 'upload-name');
  const bar = el('progress');
  bar.max = 100;
  status.append(label, bar);
  opts.composer.prepend(btn, input);
  opts.composer.before(status);

  const queue = [];
  let busy = false;

  function next() {
    if (busy || !queue.length) return;
    const file = queue.shift();
    const sid = opts.sessionID();
    if (!sid) {
      queue.length = 0;
      opts.onError('Send a message first to start the chat, then attach files.');
      return;
    }
    busy = true;
    status.hidden = false;
    label.textContent = 'Uploading ' + file.name + '…';
    bar.value = 0;
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/v1/customer/sessions/' + encodeURIComponent(sid) + '/files');
    for (const [k, v] of Object.entries(opts.headers())) xhr.setRequestHeader(k, v);
    xhr.upload.addEventListener('progress', (e) => {
      if (e.lengthComputable) bar.value = Math.round((100 * e.loaded) / e.total);
    });
    const done = (err) => {
      busy = false;
      status.hidden = true;
      if (err) opts.onError(err);
      else if (opts.onDone) opts.onDone();
      next();
    };
    xhr.addEventListener('load', () => {
      if (xhr.status === 201) return done('');
      let msg = xhr.statusText || 'the server refused it';
      try { msg = JSON.parse(xhr.responseText).message || msg; } catch { /* not JSON */ }
      done(file.name + ' was not sent: ' + msg);
    });
    xhr.addEventListener('error', () => done(file.name + ' was not sent: the connection failed (is the file too large?).'));
    xhr.addEventListener('abort', () => done(''));
    const form = new FormData();
    form.append('file', file, file.name);
    xhr.send(form);
  }

  function add(files) {
    for (const f of files) {
      const refused = tooLarge(f, opts.maxFileSize && opts.maxFileSize());
      if (refused) opts.onError(refused);
      else queue.push(f);
    }
    next();
  }

  btn.addEventListener('click', () => input.click());
  input.addEventListener('change', () => {
    add([...input.files]);
    input.value = '';
  });
  const zone = opts.dropZone;
  zone.addEventListener('dragover', (e) => {
    if (![...(e.dataTransfer?.types || [])].includes('Files')) return;
    e.preventDefault();
    zone.classList.add('dropping');
  });
  zone.addEventListener('dragleave', (e) => {
    if (!zone.contains(e.relatedTarget)) zone.classList.remove('dropping');
  });
  zone.addEventListener('drop', (e) => {
    zone.classList.remove('dropping');
    if (!e.dataTransfer?.files?.length) return;
    e.preventDefault();
    add([...e.dataTransfer.files]);
  });
  return { add, button: btn };
}
