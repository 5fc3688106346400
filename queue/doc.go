// Package queue holds Parley's pure routing data structures: the queue of
// waiting customer sessions, the pool of agents with their free chat slots,
// and the router that pairs the two.
//
// Routing rules:
//
//   - Customers are served first come, first served: the session that entered
//     the queue first is assigned first.
//   - Among agents with a free slot (active < capacity, status available), the
//     one whose slot has been free the longest gets the next session, so
//     finishing a chat earlier puts an agent earlier in line.
//   - Capacity defaults to [parley.DefaultCapacity] concurrent sessions per agent and
//     is set per agent; agents that are not available (draining, on break,
//     offline) get nothing.
//
// The package performs no I/O, starts no goroutines and never reads the clock:
// times are passed in by the caller, and the order in which slots became free
// is tracked with a logical counter. None of the types is safe for concurrent
// use; a single dispatcher goroutine is expected to own them.
package queue
