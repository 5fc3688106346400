// Texts of the events of issue 10 as the customer sees them: transfers,
// agents leaving for a reason, and the inactivity warning with the time the
// chat will end. frame.js asks here first and falls back to its own texts.

function hm(at) {
  const d = new Date(at);
  return Number.isNaN(d.getTime()) ? '' : d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

/**
 * noticeText returns the line shown for an event of issue 10, or null for
 * other events; name is the author's name.
 */
export function noticeText(ev, name) {
  switch (ev.kind) {
    case 'transferred':
      return ev.to ? name + ' passed your chat to ' + (ev.to.name || 'a colleague')
        : name + ' passed your chat to the next available agent';
    case 'agent_left':
      if (ev.reason === 'disconnected' || ev.reason === 'unanswered') {
        return name + ' is no longer in the chat; the next available agent will answer here';
      }
      return null;
    case 'inactivity_warning':
      return 'Are you still there? This chat will end at ' + hm(ev.ends_at) + ' unless you reply.';
    case 'ended':
      return ev.reason === 'inactivity' ? 'The chat ended because there was no reply' : null;
    default:
      return null;
  }
}

/** isWarning reports whether an event line deserves attention. */
export function isWarning(ev) {
  return ev.kind === 'inactivity_warning';
}
