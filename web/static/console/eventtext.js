// Texts of the events of issue 10 (transfers, agents leaving for a reason,
// inactivity) as the console shows them. view.js asks here first and falls
// back to its own texts.

/** hm formats a time as hours and minutes in the agent's locale. */
function hm(at) {
  const d = new Date(at);
  return Number.isNaN(d.getTime()) ? '' : d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

const leftWhy = {
  disconnected: 'disconnected',
  unanswered: 'no reply in time',
  transferred: 'transferred',
};

/**
 * eventText returns the line shown for an event of issue 10, or null for
 * other events. who is "You" or the author's name; me is the agent's own id.
 */
export function eventText(e, who, me) {
  switch (e.kind) {
    case 'transferred':
      if (!e.to) return `${who} sent the chat back to the queue`;
      if (me && e.to.id === me) return `${who} transferred the chat to you`;
      return `${who} transferred the chat to ${e.to.name || 'another agent'}`;
    case 'agent_left': {
      const why = leftWhy[e.reason];
      if (!why) return null;
      return `${who} left (${why})`;
    }
    case 'inactivity_warning':
      return `No answer from the customer: the chat ends at ${hm(e.ends_at)} unless they write`;
    case 'ended':
      if (e.reason === 'inactivity') return 'The chat ended: the customer did not answer';
      return null;
    default:
      return null;
  }
}

/** isWarning reports whether an event line deserves attention. */
export function isWarning(e) {
  return e.kind === 'inactivity_warning' || (e.kind === 'agent_left' && (e.reason === 'unanswered' || e.reason === 'disconnected'));
}
