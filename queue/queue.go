package queue

import "time"

// Entry is one waiting session.
type Entry struct {
	// ID identifies the session.
	ID string
	// At is when the session entered the queue.
	At time.Time
}

// node is one element of the queue's doubly linked list.
type node struct {
	e          Entry
	prev, next *node
}

// Queue is the line of waiting sessions, ordered by the time they entered the
// queue and, for equal times, by the order in which they were pushed.
//
// The zero value is not usable; create queues with NewQueue. A Queue is not
// safe for concurrent use.
type Queue struct {
	head, tail *node
	byID       map[string]*node
}

// NewQueue returns an empty queue.
func NewQueue() *Queue {
	return &Queue{byID: make(map[string]*node)}
}

// Push adds a session to the queue and reports whether it was added.
//
// Sessions are ordered by At, then by push order for equal At. Pushing an
// entry whose At is earlier than the tail's inserts it at its place, so a
// re-queued session keeps its original place; pushing at or after the tail is
// O(1). Pushing an ID that is already present is a no-op and returns false.
func (q *Queue) Push(e Entry) bool {
	if _, ok := q.byID[e.ID]; ok {
		return false
	}
	n := &node{e: e}
	q.byID[e.ID] = n

	// Find the last node that must stay ahead of n: walk back from the tail
	// past every node that entered strictly later than n.
	after := q.tail
	for after != nil && after.e.At.After(e.At) {
		after = after.prev
	}
	if after == nil {
		// n goes to the front.
		n.next = q.head
		if q.head != nil {
			q.head.prev = n
		} else {
			q.tail = n
		}
		q.head = n
		return true
	}
	n.prev = after
	n.next = after.next
	if after.next != nil {
		after.next.prev = n
	} else {
		q.tail = n
	}
	after.next = n
	return true
}

// Remove deletes the session with the given ID and reports whether it was
// present. It runs in O(1).
func (q *Queue) Remove(id string) bool {
	n, ok := q.byID[id]
	if !ok {
		return false
	}
	q.unlink(n)
	return true
}

// unlink removes n from the list and the index.
func (q *Queue) unlink(n *node) {
	if n.prev != nil {
		n.prev.next = n.next
	} else {
		q.head = n.next
	}
	if n.next != nil {
		n.next.prev = n.prev
	} else {
		q.tail = n.prev
	}
	n.prev, n.next = nil, nil
	delete(q.byID, n.e.ID)
}

// Front returns the session that will be served next, without removing it.
// It reports false if the queue is empty.
func (q *Queue) Front() (Entry, bool) {
	if q.head == nil {
		return Entry{}, false
	}
	return q.head.e, true
}

// PopFront removes and returns the session that will be served next. It
// reports false if the queue is empty. It runs in O(1).
func (q *Queue) PopFront() (Entry, bool) {
	n := q.head
	if n == nil {
		return Entry{}, false
	}
	q.unlink(n)
	return n.e, true
}

// Len returns the number of waiting sessions.
func (q *Queue) Len() int {
	return len(q.byID)
}

// Contains reports whether the session with the given ID is waiting.
func (q *Queue) Contains(id string) bool {
	_, ok := q.byID[id]
	return ok
}

// Position returns the 1-based place of the session in the queue (1 means it
// is served next), or 0 if it is not in the queue. It runs in O(n), but in
// O(1) for the last session, which is where a new one usually is.
func (q *Queue) Position(id string) int {
	target, ok := q.byID[id]
	if !ok {
		return 0
	}
	if target == q.tail {
		return q.Len()
	}
	pos := 1
	for n := q.head; n != target; n = n.next {
		pos++
	}
	return pos
}

// Each calls fn for every waiting session in order, with pos counting from 1,
// and stops early when fn returns false. fn may remove the entry it is given,
// but must not otherwise modify the queue.
func (q *Queue) Each(fn func(pos int, e Entry) bool) {
	pos := 1
	for n := q.head; n != nil; pos++ {
		next := n.next
		if !fn(pos, n.e) {
			return
		}
		n = next
	}
}

// walkFrom calls fn for at most limit waiting sessions in order, starting
// with the one with the given ID, or the front if it is not waiting, and
// returns the ID of the session after the last one visited ("" at the
// end). fn must not modify the queue.
func (q *Queue) walkFrom(id string, limit int, fn func(e Entry)) (next string) {
	n := q.byID[id]
	if n == nil {
		n = q.head
	}
	for ; n != nil && limit > 0; n, limit = n.next, limit-1 {
		fn(n.e)
	}
	if n == nil {
		return ""
	}
	return n.e.ID
}
