package cli

import (
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/chat"
)

// TestTimerFlags: serve's timer flags have the defaults of the protocol
// (grace 60s, reply timeout off, warning 5m, timeout 10m) and reach the
// hub's Config; 0 turns one off.
func TestTimerFlags(t *testing.T) {
	parse := func(args ...string) chat.Config {
		var l limitOptions
		f := pflag.NewFlagSet("serve", pflag.ContinueOnError)
		l.addFlags(f)
		require.NoError(t, f.Parse(args))
		return l.chat(chat.Config{})
	}
	c := parse()
	assert.Equal(t, time.Minute, c.AgentGrace)
	assert.Zero(t, c.ReplyTimeout)
	assert.Equal(t, 5*time.Minute, c.InactivityWarning)
	assert.Equal(t, 10*time.Minute, c.InactivityTimeout)

	c = parse("--agent-grace", "0", "--reply-timeout", "90s", "--inactivity-warning", "1m", "--inactivity-timeout", "1d")
	assert.Zero(t, c.AgentGrace)
	assert.Equal(t, 90*time.Second, c.ReplyTimeout)
	assert.Equal(t, time.Minute, c.InactivityWarning)
	assert.Equal(t, 24*time.Hour, c.InactivityTimeout)

	// The words operators write for zero turn a timer off too.
	c = parse("--reply-timeout", "90s", "--agent-grace", "never", "--inactivity-warning", "OFF", "--inactivity-timeout", "off")
	assert.Zero(t, c.AgentGrace)
	assert.Equal(t, 90*time.Second, c.ReplyTimeout)
	assert.Zero(t, c.InactivityWarning)
	assert.Zero(t, c.InactivityTimeout)
	c = parse("--reply-timeout", "90s", "--reply-timeout", "off")
	assert.Zero(t, c.ReplyTimeout)

	var l limitOptions
	f := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	l.addFlags(f)
	assert.ErrorContains(t, f.Parse([]string{"--reply-timeout", "offf"}), "not a duration")
	assert.Contains(t, f.FlagUsages(), "(default off)", "help shows a zero timer as off")
}
