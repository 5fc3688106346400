// E-mail in the widget frame: "E-mail me this transcript" on an ended chat
// (asks for the address, then sends email_transcript with it) and "leave a
// message" while the customer waits and no agent is online (set_email:
// the server tells the team by mail). Every text goes in as text.

function el(tag, props, ...children) {
  const e = document.createElement(tag);
  Object.assign(e, props || {});
  for (const c of children) if (c != null) e.append(c);
  return e;
}

function randomID() {
  const b = new Uint8Array(8);
  crypto.getRandomValues(b);
  return 'mail-' + Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/**
 * initEmail adds the e-mail parts to the frame. send(frame) sends a frame
 * and reports whether it could; session() is the current session.
 * It returns the hooks frame.js calls: render, onFrame and onError.
 */
export function initEmail({ send, session }) {
  const css = el('link', { rel: 'stylesheet', href: '/frame/email.css' });
  document.head.append(css);

  // Leave a message: shown while queued with nobody online.
  const leaveInput = el('input', { type: 'email', id: 'leave-email', required: true, autocomplete: 'email', placeholder: 'you@example.com' });
  leaveInput.setAttribute('aria-label', 'Your e-mail address');
  const leaveForm = el('form', { className: 'mail-form', id: 'leave-form' },
    leaveInput, el('button', { type: 'submit', className: 'primary' }, 'Send'));
  const leaveNote = el('p', { className: 'mail-note', id: 'leave-note', hidden: true });
  const leaveCard = el('div', { className: 'card mail-card', id: 'leave-card', hidden: true },
    el('p', null, 'No one is online right now. Leave your e-mail address with your message and we will answer you by mail.'),
    leaveForm, leaveNote);
  const queueCard = document.getElementById('queue-card');
  queueCard.after(leaveCard);

  // E-mail me this transcript: on the ended card.
  const mailBtn = el('button', { type: 'button', className: 'ghost', id: 'mail-btn' }, 'E-mail me this transcript');
  const mailInput = el('input', { type: 'email', id: 'mail-email', required: true, autocomplete: 'email', placeholder: 'you@example.com' });
  mailInput.setAttribute('aria-label', 'Your e-mail address');
  const mailForm = el('form', { className: 'mail-form', id: 'mail-form', hidden: true },
    mailInput, el('button', { type: 'submit', className: 'primary' }, 'Send'));
  const mailNote = el('p', { className: 'mail-note', id: 'mail-note', hidden: true });
  const endedCard = document.getElementById('ended-card');
  const row = endedCard.querySelector('.row');
  row.prepend(mailBtn);
  endedCard.append(mailForm, mailNote);

  let leftFor = ''; // session id a message was left for

  function note(p, text) {
    p.textContent = text;
    p.hidden = !text;
  }

  mailBtn.addEventListener('click', () => {
    const s = session();
    mailInput.value = (s && s.customer && s.customer.email) || mailInput.value;
    mailForm.hidden = false;
    note(mailNote, '');
    mailInput.focus();
  });
  mailForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const s = session();
    const email = mailInput.value.trim();
    if (!s || !email) return;
    if (send({ type: 'email_transcript', session_id: s.id, email, client_msg_id: randomID(), req: 'email:transcript' })) {
      note(mailNote, 'Sending…');
    } else {
      note(mailNote, 'Not connected; try again in a moment.');
    }
  });
  leaveForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const s = session();
    const email = leaveInput.value.trim();
    if (!s || !email) return;
    if (send({ type: 'set_email', email, req: 'email:set' })) {
      leftFor = s.id;
      note(leaveNote, 'Saving…');
    } else {
      note(leaveNote, 'Not connected; try again in a moment.');
    }
  });

  return {
    /** render shows what fits the session's state. */
    render(s) {
      const queued = !!s && s.state === 'queued';
      if (queued && !leaveInput.value && s.customer && s.customer.email) leaveInput.value = s.customer.email;
      leaveCard.hidden = !(queued && (s.agents_available === 0 || leftFor === s.id));
      leaveForm.hidden = leftFor === (s && s.id);
      if (!s || s.state !== 'ended') { mailForm.hidden = true; note(mailNote, ''); }
    },
    /** onFrame handles email_transcript answers and set_email's session. */
    onFrame(f) {
      if (f.type === 'email_transcript') {
        mailForm.hidden = true;
        note(mailNote, 'On its way to ' + mailInput.value.trim() + '.');
        return true;
      }
      if (f.type === 'session' && f.re === 'email:set') {
        const email = f.session && f.session.customer && f.session.customer.email;
        note(leaveNote, 'Thanks! We will answer you here or at ' + (email || 'your address') + '.');
      }
      return false;
    },
    /** onError shows errors of e-mail requests; true when it was one. */
    onError(f) {
      if (f.re === 'email:transcript') { note(mailNote, f.message); return true; }
      if (f.re === 'email:set') { leftFor = ''; leaveForm.hidden = false; note(leaveNote, f.message); return true; }
      return false;
    },
  };
}
