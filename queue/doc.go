// Package queue holds Parley's pure routing data structures: the queue of
// waiting customer sessions, the pool of agents with their free chat slots,
// and the router that pairs the two.
//
// Routing rules:
//
//   - Sessions wait in named queues (Machine keeps one lane per queue; the
//     default queue always exists). Within a queue customers are served
//     first come, first served: the session that entered it first is
//     assigned first.
//   - Each agent serves a set of queues (none set: every queue). An agent
//     with a free slot takes the longest-waiting session among the queues
//     it serves; routing walks the free slots oldest first and stops at the
//     first whose agent serves a queue with someone waiting.
//   - Among agents with a free slot (active < capacity, status available), the
//     one whose slot has been free the longest gets the next session, so
//     finishing a chat earlier puts an agent earlier in line.
//   - Capacity defaults to [parley.DefaultCapacity] concurrent sessions per agent and
//     is set per agent; agents that are not available (draining, on break,
//     offline) get nothing.
//
// Wait estimates come from measured service per queue (see EWTWindow), and
// every assignment carries the routing decision (parley.Routing) so that
// it can be stored and explained later.
//
// The package performs no I/O, starts no goroutines and never reads the clock:
// times are passed in by the caller, and the order in which slots became free
// is tracked with a logical counter. None of the types is safe for concurrent
// use; a single dispatcher goroutine is expected to own them.
package queue
