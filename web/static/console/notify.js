// Desktop notifications and a short chime for new chats. Permission is only
// ever asked from a click; nothing is requested on load.

const prefKey = 'parley.console.notify';
let audio = null;

/** notifySupported reports whether the browser has desktop notifications. */
export function notifySupported() { return 'Notification' in window; }

/** notifyEnabled reports whether the agent turned alerts on and allowed them. */
export function notifyEnabled() {
  return notifySupported() && Notification.permission === 'granted' &&
    localStorage.getItem(prefKey) === '1';
}

/**
 * enableNotify asks for permission (call it from a click only) and unlocks
 * audio, which browsers allow only after a user gesture.
 */
export async function enableNotify() {
  unlockAudio();
  if (!notifySupported()) return false;
  let p = Notification.permission;
  if (p === 'default') p = await Notification.requestPermission();
  if (p === 'granted') localStorage.setItem(prefKey, '1');
  return p === 'granted';
}

/** disableNotify turns alerts off for this browser. */
export function disableNotify() { localStorage.removeItem(prefKey); }

function unlockAudio() {
  const AC = window.AudioContext || window.webkitAudioContext;
  if (!AC) return;
  if (!audio) audio = new AC();
  if (audio.state === 'suspended') audio.resume().catch(() => {});
}

/** chime plays two short soft tones generated with WebAudio. */
export function chime() {
  try {
    unlockAudio();
    if (!audio || audio.state !== 'running') return;
    const t0 = audio.currentTime;
    for (const [i, freq] of [660, 880].entries()) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.type = 'sine';
      osc.frequency.value = freq;
      const t = t0 + i * 0.14;
      gain.gain.setValueAtTime(0.0001, t);
      gain.gain.exponentialRampToValueAtTime(0.15, t + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.22);
      osc.connect(gain).connect(audio.destination);
      osc.start(t);
      osc.stop(t + 0.25);
    }
  } catch {
    // Sound is a courtesy; never let it break the console.
  }
}

/**
 * alertNewChat shows a desktop notification and plays the chime when the
 * agent enabled alerts and the tab does not have focus.
 */
export function alertNewChat(title, body, onClick) {
  if (!notifyEnabled() || document.hasFocus()) return false;
  try {
    const n = new Notification(title, { body, tag: 'parley-new-chat' });
    n.addEventListener('click', () => { window.focus(); if (onClick) onClick(); n.close(); });
  } catch {
    // Some browsers only allow notifications from a service worker.
  }
  chime();
  return true;
}
