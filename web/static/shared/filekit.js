// What the widget frame and the agent console both need to show files:
// which types get a thumbnail, sizes for people, and the paperclip icon.

const imageTypes = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp']);

function baseType(t) { return String(t || '').split(';')[0].trim().toLowerCase(); }

/** isImage reports whether a file is shown as a thumbnail. */
export function isImage(f) { return imageTypes.has(baseType(f.content_type)); }

/** size formats a byte count for people. */
export function size(n) {
  if (n >= 1 << 20) return (n / (1 << 20)).toFixed(1) + ' MB';
  if (n >= 1 << 10) return Math.round(n / (1 << 10)) + ' KB';
  return n + ' bytes';
}

/**
 * tooLarge returns why file may not be sent when it is larger than max
 * bytes (the server's limit, from welcome), or '' when it may be sent or
 * the limit is not known. Refusing here spares the user an upload the
 * server would cut off with a dropped connection.
 */
export function tooLarge(file, max) {
  if (!(max > 0) || file.size <= max) return '';
  return `${file.name} was not sent: it is ${size(file.size)}, and files may be at most ${size(max)}.`;
}

/**
 * clipIcon returns a paperclip drawn as SVG (the path of Feather's
 * "paperclip" icon, MIT licence), so no emoji font is needed.
 */
export function clipIcon() {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('width', '18');
  svg.setAttribute('height', '18');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('fill', 'none');
  svg.setAttribute('stroke', 'currentColor');
  svg.setAttribute('stroke-width', '2');
  svg.setAttribute('stroke-linecap', 'round');
  svg.setAttribute('stroke-linejoin', 'round');
  const path = document.createElementNS(ns, 'path');
  path.setAttribute('d', 'M21.44 11.05l-9.19 9.19a6 6 0 0 1-8.49-8.49l9.19-9.19a4 4 0 0 1 5.66 5.66l-9.2 9.19a2 2 0 0 1-2.83-2.83l8.49-8.48');
  svg.append(path);
  return svg;
}
