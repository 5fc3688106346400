// Sign-in: email and password, and the new password a one-time password
// asks for. The token goes to the caller, never into a URL.

import * as view from './view.js';

const $ = (id) => document.getElementById(id);

let pendingLogin = null; // {email, password} while a new password is chosen
let onToken = () => {};

/** showLogin shows the sign-in form, with message when there is one. */
export function showLogin(message) {
  pendingLogin = null;
  $('app').hidden = true;
  $('login').hidden = false;
  $('newpw-form').hidden = true;
  $('login-form').hidden = false;
  view.formError('login-error', message || '');
  document.title = 'Sign in · Parley console';
  ($('email').value ? $('password') : $('email')).focus();
}

/** initLogin wires the forms; done(token) is called after a sign-in. */
export function initLogin(done) {
  onToken = done;
  $('login-form').addEventListener('submit', onLoginSubmit);
  $('newpw-form').addEventListener('submit', onNewPasswordSubmit);
  $('newpw-cancel').addEventListener('click', () => showLogin());
}

function finish(token) {
  pendingLogin = null;
  $('password').value = '';
  $('new-password').value = '';
  onToken(token);
}

async function postLogin(body) {
  let res;
  try {
    res = await fetch('/v1/agent/login', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
      credentials: 'omit',
      cache: 'no-store',
    });
  } catch {
    return { error: 'The server cannot be reached. Check your connection and try again.' };
  }
  let data = {};
  try { data = await res.json(); } catch { data = {}; }
  if (res.ok && data.token) return { token: data.token, agent: data.agent };
  if (res.status === 403 && data.password_change_required) return { change: true };
  if (res.status === 401) return { error: 'Wrong email or password.' };
  if (res.status === 429) return { error: 'Too many attempts. Wait a few seconds and try again.' };
  return { error: data.message || `Sign-in failed (${res.status}).` };
}

async function onLoginSubmit(ev) {
  ev.preventDefault();
  const email = $('email').value.trim();
  const password = $('password').value;
  if (!email || !password) { view.formError('login-error', 'Enter your email and password.'); return; }
  view.busy('signin-btn', true);
  const r = await postLogin({ email, password });
  view.busy('signin-btn', false);
  if (r.change) {
    pendingLogin = { email, password };
    $('login-form').hidden = true;
    $('newpw-form').hidden = false;
    view.formError('newpw-error', '');
    $('new-password').value = '';
    $('new-password').focus();
    return;
  }
  if (r.error) { view.formError('login-error', r.error); $('password').select(); return; }
  finish(r.token);
}

async function onNewPasswordSubmit(ev) {
  ev.preventDefault();
  const np = $('new-password').value;
  if ([...np].length < 12) { view.formError('newpw-error', 'Use at least 12 characters.'); return; }
  if (!pendingLogin) { showLogin(); return; }
  if (np === pendingLogin.password) { view.formError('newpw-error', 'Choose a password different from the one-time password.'); return; }
  view.busy('newpw-btn', true);
  const r = await postLogin({ ...pendingLogin, new_password: np });
  view.busy('newpw-btn', false);
  if (r.error) { view.formError('newpw-error', r.error); return; }
  if (r.change) { view.formError('newpw-error', 'The server still asks for a new password. Try another one.'); return; }
  finish(r.token);
}
