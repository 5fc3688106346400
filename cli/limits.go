package cli

import (
	"time"

	"github.com/spf13/pflag"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/httpapi"
)

// limitOptions are serve's limits against abuse (docs/security.md,
// "Limits"). On the command line 0 lifts a limit.
type limitOptions struct {
	connsPerCustomer, connsPerAgent, connsPerIP, customerConns int
	sendRate, commandRate                                      float64
	sendBurst, commandBurst                                    int
	messageChars, outboundBytes                                int
	timers                                                     timerOptions
}

// timerOptions are serve's rules that keep chats moving (issue 10); 0
// turns one off.
type timerOptions struct {
	agentGrace, replyTimeout, inactivityWarning, inactivityTimeout time.Duration
}

func (o *timerOptions) addFlags(f *pflag.FlagSet) {
	f.Var(newOffDurationValue(time.Minute, &o.agentGrace), "agent-grace", "how long an agent may have no connection before it goes offline and its chats go back to the queue (0 or off: forever)")
	f.Var(newOffDurationValue(0, &o.replyTimeout), "reply-timeout", "take a chat back from an agent who has not written to the customer this long after getting it (0 or off: never)")
	f.Var(newOffDurationValue(5*time.Minute, &o.inactivityWarning), "inactivity-warning", "warn an active chat whose customer has not answered an agent's message this long (0 or off: no warning)")
	f.Var(newOffDurationValue(10*time.Minute, &o.inactivityTimeout), "inactivity-timeout", "end an active chat as inactivity when its customer has not answered an agent's message this long (0 or off: never)")
}

// chat sets the timers of a chat.Config.
func (o *timerOptions) chat(c chat.Config) chat.Config {
	c.AgentGrace, c.ReplyTimeout = o.agentGrace, o.replyTimeout
	c.InactivityWarning, c.InactivityTimeout = o.inactivityWarning, o.inactivityTimeout
	return c
}

func (l *limitOptions) addFlags(f *pflag.FlagSet) {
	f.IntVar(&l.connsPerCustomer, "max-conns-per-customer", httpapi.DefaultMaxConnsPerCustomer, "WebSocket connections one customer may hold (0: no limit)")
	f.IntVar(&l.connsPerAgent, "max-conns-per-agent", httpapi.DefaultMaxConnsPerAgent, "WebSocket connections one agent may hold (0: no limit)")
	f.IntVar(&l.connsPerIP, "max-conns-per-ip", httpapi.DefaultMaxConnsPerIP, "WebSocket connections from one client address (0: no limit)")
	f.IntVar(&l.customerConns, "max-customer-conns", httpapi.DefaultMaxCustomerConns(), "customer WebSocket connections in all; the default is the open-file limit less a reserve (0: no limit)")
	f.Float64Var(&l.sendRate, "send-rate", httpapi.DefaultSendRate, "messages per second one customer may send, over all its connections (0: no limit)")
	f.IntVar(&l.sendBurst, "send-burst", httpapi.DefaultSendBurst, "messages a customer may send at once above --send-rate")
	f.Float64Var(&l.commandRate, "command-rate", httpapi.DefaultCommandRate, "frames per second one connection may send, typing and read aside (0: no limit)")
	f.IntVar(&l.commandBurst, "command-burst", httpapi.DefaultCommandBurst, "frames a connection may send at once above --command-rate")
	f.IntVar(&l.messageChars, "max-message-chars", chat.DefaultMaxMessageChars, "longest message text, in characters")
	f.IntVar(&l.outboundBytes, "outbound-buffer", httpapi.DefaultOutboundBytes, "bytes queued for one connection before its commands wait (a client 4 times over, or over for the write timeout, is disconnected)")
	l.timers.addFlags(f)
}

// unlimited maps the command line's 0 (no limit) to Config's negative.
func unlimited[T int | float64](v T) T {
	if v == 0 {
		return -1
	}
	return v
}

// http sets the limits of an httpapi.Config.
func (l *limitOptions) http(c httpapi.Config) httpapi.Config {
	c.MaxConnsPerCustomer = unlimited(l.connsPerCustomer)
	c.MaxConnsPerAgent = unlimited(l.connsPerAgent)
	c.MaxConnsPerIP = unlimited(l.connsPerIP)
	c.MaxCustomerConns = unlimited(l.customerConns)
	c.SendRate, c.SendBurst = unlimited(l.sendRate), l.sendBurst
	c.CommandRate, c.CommandBurst = unlimited(l.commandRate), l.commandBurst
	c.OutboundBytes = l.outboundBytes
	return c
}

// chat sets the limits of a chat.Config.
func (l *limitOptions) chat(c chat.Config) chat.Config {
	c.MaxMessageChars = l.messageChars
	return l.timers.chat(c)
}
