package chat

import (
	"encoding/json"
	"sync"

	"github.com/parley-chat/parley/parley"
)

// Conn is one client connection as chat sees it. The transport implements
// it; chat never blocks on a connection.
type Conn interface {
	// Send queues encoded frames for the client, in order, without blocking.
	// It reports false if the connection cannot take them (its outbound
	// queue is full or it is closed); the transport then disconnects the
	// client, which reconnects and resumes.
	Send(frames ...[]byte) bool
}

// Disconnecter is implemented by connections the server can close for a
// transport-neutral reason, such as when an agent's account is disabled;
// the transport picks the close code and text.
type Disconnecter interface {
	Disconnect(reason parley.DisconnectReason)
}

// encode marshals a frame. Frames are plain structs of the parley package,
// so marshalling cannot fail; a failure is a programming error and yields
// an internal error frame rather than a panic.
func encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		return []byte(`{"type":"error","code":"internal","message":"Internal error."}`)
	}
	return b
}

// registry tracks the open connections of each customer and agent, so a
// session can reach every tab and device of its participants.
type registry struct {
	mu        sync.RWMutex
	customers map[string]map[Conn]struct{}
	agents    map[string]map[Conn]struct{}
}

func newRegistry() *registry {
	return &registry{
		customers: make(map[string]map[Conn]struct{}),
		agents:    make(map[string]map[Conn]struct{}),
	}
}

func add(m map[string]map[Conn]struct{}, id string, c Conn) int {
	set := m[id]
	if set == nil {
		set = make(map[Conn]struct{})
		m[id] = set
	}
	set[c] = struct{}{}
	return len(set)
}

func remove(m map[string]map[Conn]struct{}, id string, c Conn) int {
	set := m[id]
	delete(set, c)
	if len(set) == 0 {
		delete(m, id)
	}
	return len(set)
}

func (r *registry) addCustomer(id string, c Conn) {
	r.mu.Lock()
	add(r.customers, id, c)
	r.mu.Unlock()
}

func (r *registry) removeCustomer(id string, c Conn) {
	r.mu.Lock()
	remove(r.customers, id, c)
	r.mu.Unlock()
}

// removeCustomerThen unregisters c and, while no connection of the
// customer can be added or counted, calls last if it was the last one.
func (r *registry) removeCustomerThen(id string, c Conn, last func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if remove(r.customers, id, c) == 0 {
		last()
	}
}

// addAgent registers c and returns how many connections the agent has.
func (r *registry) addAgent(id string, c Conn) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return add(r.agents, id, c)
}

// removeAgent unregisters c and returns how many connections remain.
func (r *registry) removeAgent(id string, c Conn) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return remove(r.agents, id, c)
}

// toCustomer sends frames to every connection of a customer except skip.
func (r *registry) toCustomer(id string, skip Conn, frames ...[]byte) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for c := range r.customers[id] {
		if c != skip {
			c.Send(frames...)
		}
	}
}

// toAgent sends frames to every connection of an agent except skip.
func (r *registry) toAgent(id string, skip Conn, frames ...[]byte) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for c := range r.agents[id] {
		if c != skip {
			c.Send(frames...)
		}
	}
}

// toAllAgents sends frames to every agent connection.
func (r *registry) toAllAgents(frames ...[]byte) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, set := range r.agents {
		for c := range set {
			c.Send(frames...)
		}
	}
}

// disconnectAgent closes every connection of an agent that can be closed.
func (r *registry) disconnectAgent(id string, reason parley.DisconnectReason) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for c := range r.agents[id] {
		if d, ok := c.(Disconnecter); ok {
			d.Disconnect(reason)
		}
	}
}

// gate is a Conn that holds frames back until it is opened, so a
// connection can be registered for pushes before its welcome is sent
// without any push overtaking the welcome.
type gate struct {
	c      Conn
	mu     sync.Mutex
	opened bool
	held   [][]byte
}

func newGate(c Conn) *gate { return &gate{c: c} }

// Send passes frames on once the gate is open and holds them before.
func (g *gate) Send(frames ...[]byte) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.opened {
		g.held = append(g.held, frames...)
		return true
	}
	return g.c.Send(frames...)
}

// open sends first, then every frame held back, and lets later frames
// through. The lock is held while sending, so no frame overtakes them.
func (g *gate) open(first []byte) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.opened = true
	frames := append([][]byte{first}, g.held...)
	g.held = nil
	return g.c.Send(frames...)
}

// Disconnect closes the underlying connection if it can be closed.
func (g *gate) Disconnect(reason parley.DisconnectReason) {
	if d, ok := g.c.(Disconnecter); ok {
		d.Disconnect(reason)
	}
}
