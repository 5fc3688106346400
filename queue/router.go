package queue

// Assignment pairs the next session with the next agent.
type Assignment struct {
	// Session is the session taken from the queue.
	Session Entry
	// Agent is the ID of the agent the session was given to.
	Agent string
}

// Router applies the routing rules to a Queue and a Pool. A Router is not
// safe for concurrent use.
type Router struct {
	// Queue holds the waiting sessions.
	Queue *Queue
	// Pool holds the agents' routing state.
	Pool *Pool
}

// NewRouter returns a router with an empty queue and an empty pool.
func NewRouter() *Router {
	return &Router{Queue: NewQueue(), Pool: NewPool()}
}

// Match pops the oldest waiting session and gives it to the agent whose slot
// has been free longest, if both exist. When either is missing it changes
// nothing and reports false. Callers typically call Match in a loop until it
// reports false.
func (r *Router) Match() (Assignment, bool) {
	if r.Queue.Len() == 0 {
		return Assignment{}, false
	}
	agent, ok := r.Pool.Next()
	if !ok {
		return Assignment{}, false
	}
	// Next only returns available agents with a free slot, so Take succeeds.
	if err := r.Pool.Take(agent); err != nil {
		return Assignment{}, false
	}
	e, _ := r.Queue.PopFront()
	return Assignment{Session: e, Agent: agent}, true
}
