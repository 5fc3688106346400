// Files in the console: an attach button and drag and drop onto the
// conversation, upload progress, image thumbnails, downloads, and the PDF
// transcript button. Uploads go with XMLHttpRequest (for its progress
// events) and downloads with fetch, both with the agent token in the
// Authorization header; results are shown through blob: URLs, so the token
// never appears in a URL. Names only ever go in as text (dom.js).

import { h, clock, dateTime } from './dom.js';
import { isImage, size, clipIcon, tooLarge } from '/shared/filekit.js';


const blobs = new Map(); // "session/file" -> Promise of a blob: URL

/**
 * fetchBlob GETs path with token in the Authorization header (never in the
 * URL) and returns the body as a Blob; a refusal throws an Error with the
 * server's message.
 */
export async function fetchBlob(path, token) {
  const res = await fetch(path, { headers: { Authorization: `Bearer ${token}` }, credentials: 'omit', cache: 'no-store' });
  if (!res.ok) {
    let msg = res.statusText;
    try { msg = (await res.json()).message || msg; } catch { /* not JSON */ }
    throw new Error(msg);
  }
  return res.blob();
}

function blobURL(sessionID, f, token) {
  const key = sessionID + '/' + f.id;
  if (!blobs.has(key)) {
    const path = `/v1/agent/sessions/${encodeURIComponent(sessionID)}/files/${encodeURIComponent(f.id)}`;
    const p = fetchBlob(path, token).then((b) => URL.createObjectURL(b));
    p.catch(() => blobs.delete(key));
    blobs.set(key, p);
  }
  return blobs.get(key);
}

/** saveURL saves url (a blob: URL) as a download named name. */
export function saveURL(url, name) {
  const a = h('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
}

/**
 * fileEl draws a file event: a thumbnail for images, a download button
 * otherwise. ctx: {sessionID, token, role ('customer'|'me'|'agent'),
 * name, onError(msg)}.
 */
export function fileEl(e, ctx) {
  const f = e.file || {};
  const save = () => blobURL(ctx.sessionID, f, ctx.token).then((u) => saveURL(u, f.name || 'file'))
    .catch((err) => ctx.onError(`Could not download ${f.name || 'the file'}: ${err.message}`));
  let body;
  if (isImage(f)) {
    body = h('img', { className: 'thumb', alt: f.name || 'image', title: `${f.name} (${size(f.size || 0)})`, onclick: save });
    blobURL(ctx.sessionID, f, ctx.token).then((u) => { body.src = u; })
      .catch((err) => body.replaceWith(h('span', { className: 'file-error' }, `Image unavailable: ${err.message}`)));
  } else {
    body = h('button', { type: 'button', className: 'file-link', title: `Download ${f.name || 'file'}`, onclick: save },
      h('span', { className: 'file-name' }, f.name || 'file'),
      h('span', { className: 'file-size' }, size(f.size || 0)));
  }
  return h('li', { className: `msg ${ctx.role} file`, 'data-seq': e.seq,
    'data-from': `${e.from?.role}:${e.from?.id || ''}:`, 'data-at': Date.parse(e.at) || 0 },
  h('div', { className: 'meta' },
    h('span', { className: 'who' }, ctx.name),
    h('time', { datetime: e.at, title: dateTime(e.at) }, clock(e.at))),
  h('div', { className: 'bubble file-bubble' }, body));
}

/**
 * initFiles adds the attach button, drag and drop and the PDF button.
 * opts: {token(), uploadSession() (the current chat if the agent may write
 * in it, else null), currentSession(), onError(msg), maxFileSize() (the
 * server's limit in bytes, from welcome; larger files are refused here)}.
 */
export function initFiles(opts) {
  const input = h('input', { type: 'file', id: 'file-input', hidden: true });
  const attach = h('button', { type: 'button', id: 'attach-btn', className: 'ghost attach', title: 'Attach a file' }, clipIcon(), ' Attach');
  const label = h('span', { className: 'upload-name' });
  const bar = h('progress', { max: '100', value: '0' });
  const status = h('div', { id: 'upload', className: 'upload', role: 'status', hidden: true }, label, bar);
  const composerBar = document.querySelector('#reply-form .composer-bar');
  composerBar.prepend(attach, input);
  document.getElementById('reply-form').before(status);

  const pdf = h('button', { type: 'button', id: 'pdf-btn', title: 'Download the transcript as a PDF' }, 'PDF');
  document.querySelector('#convo .actions').prepend(pdf);
  pdf.addEventListener('click', async () => {
    const id = opts.currentSession();
    if (!id) return;
    pdf.disabled = true;
    try {
      const b = await fetchBlob(`/v1/customer/sessions/${encodeURIComponent(id)}/transcript?format=pdf`, opts.token());
      const url = URL.createObjectURL(b);
      saveURL(url, `transcript-${id}.pdf`);
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } catch (err) {
      opts.onError(`Could not download the PDF: ${err.message}`);
    } finally {
      pdf.disabled = false;
    }
  });

  const queue = [];
  let busy = false;
  function next() {
    if (busy || !queue.length) return;
    const { file, sid } = queue.shift();
    busy = true;
    status.hidden = false;
    label.textContent = `Uploading ${file.name}…`;
    bar.value = 0;
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `/v1/agent/sessions/${encodeURIComponent(sid)}/files`);
    xhr.setRequestHeader('Authorization', `Bearer ${opts.token()}`);
    xhr.upload.addEventListener('progress', (ev) => {
      if (ev.lengthComputable) bar.value = Math.round((100 * ev.loaded) / ev.total);
    });
    const done = (err) => {
      busy = false;
      status.hidden = true;
      if (err) opts.onError(err);
      next();
    };
    xhr.addEventListener('load', () => {
      if (xhr.status === 201) return done('');
      let msg = xhr.statusText || 'the server refused it';
      try { msg = JSON.parse(xhr.responseText).message || msg; } catch { /* not JSON */ }
      done(`${file.name} was not sent: ${msg}`);
    });
    xhr.addEventListener('error', () => done(`${file.name} was not sent: the connection failed (is the file too large?).`));
    xhr.addEventListener('abort', () => done(''));
    const form = new FormData();
    form.append('file', file, file.name);
    xhr.send(form);
  }
  function add(files) {
    const sid = opts.uploadSession();
    if (!sid) { opts.onError('Open a chat you are in to attach files.'); return; }
    for (const file of files) {
      const refused = tooLarge(file, opts.maxFileSize && opts.maxFileSize());
      if (refused) opts.onError(refused);
      else queue.push({ file, sid });
    }
    next();
  }
  attach.addEventListener('click', () => input.click());
  input.addEventListener('change', () => { add([...input.files]); input.value = ''; });
  const zone = document.getElementById('convo');
  zone.addEventListener('dragover', (ev) => {
    if (![...(ev.dataTransfer?.types || [])].includes('Files')) return;
    ev.preventDefault();
    zone.classList.add('dropping');
  });
  zone.addEventListener('dragleave', (ev) => { if (!zone.contains(ev.relatedTarget)) zone.classList.remove('dropping'); });
  zone.addEventListener('drop', (ev) => {
    zone.classList.remove('dropping');
    if (!ev.dataTransfer?.files?.length) return;
    ev.preventDefault();
    add([...ev.dataTransfer.files]);
  });
}
