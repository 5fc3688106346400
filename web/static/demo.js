// The demo page: asks this server for a demo customer token for the name
// typed, then hands it to the widget with Parley('identify', token), as a
// customer's own site would after its user signs in.
const w = window;
w.Parley = w.Parley || function () { (w.Parley.q = w.Parley.q || []).push(arguments); };

const form = document.getElementById('demo-form');
const status = document.getElementById('demo-status');
const input = document.getElementById('demo-name');
const saved = localStorage.getItem('parley-demo-name');
if (saved) input.value = saved;

form.addEventListener('submit', async (e) => {
  e.preventDefault();
  const name = input.value.trim();
  if (!name) return;
  status.textContent = 'Signing a demo token…';
  try {
    const res = await fetch('/v1/demo/token', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ name }),
    });
    const body = await res.json();
    if (!res.ok) throw new Error(body.message || res.statusText);
    localStorage.setItem('parley-demo-name', name);
    w.Parley('identify', body.token);
    w.Parley('open');
    status.textContent = 'Chatting as ' + name + '.';
  } catch (err) {
    status.textContent = 'Could not start the demo: ' + err.message;
  }
});
