package httpapi

import (
	"container/list"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// keyedLimiter keeps a token bucket per key (a client address, an
// account) in a table of at most max keys. When the table is full the
// least recently used key is forgotten: an attacker can only make it
// forget a key by touching max other keys after it, and nothing is ever
// wiped at once.
type keyedLimiter struct {
	limit rate.Limit
	burst int
	max   int

	mu sync.Mutex
	ll *list.List // of *keyedEntry, most recently used first
	m  map[string]*list.Element
}

type keyedEntry struct {
	key string
	lim *rate.Limiter
}

// newKeyedLimiter returns a table of buckets of burst tokens refilled at
// one per every, for at most max keys.
func newKeyedLimiter(every time.Duration, burst, max int) *keyedLimiter {
	return &keyedLimiter{limit: rate.Every(every), burst: burst, max: max, ll: list.New(), m: make(map[string]*list.Element)}
}

// get returns key's bucket, creating it (and forgetting the least recently
// used key if the table is full). k.mu must be held.
func (k *keyedLimiter) get(key string) *rate.Limiter {
	if e, ok := k.m[key]; ok {
		k.ll.MoveToFront(e)
		return e.Value.(*keyedEntry).lim
	}
	if k.ll.Len() >= k.max {
		old := k.ll.Back()
		k.ll.Remove(old)
		delete(k.m, old.Value.(*keyedEntry).key)
	}
	lim := rate.NewLimiter(k.limit, k.burst)
	k.m[key] = k.ll.PushFront(&keyedEntry{key: key, lim: lim})
	return lim
}

// take takes a token from key's bucket at now. If none is left it takes
// nothing and returns nil and how long until one is.
func (k *keyedLimiter) take(key string, now time.Time) (*rate.Reservation, time.Duration) {
	k.mu.Lock()
	defer k.mu.Unlock()
	r := k.get(key).ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return nil, d
	}
	return r, 0
}

// len returns the number of keys in the table.
func (k *keyedLimiter) len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.ll.Len()
}

// lruSet is a set of at most max keys that forgets the least recently
// used one when full.
type lruSet struct {
	mu  sync.Mutex
	max int
	ll  *list.List // of string, most recently used first
	m   map[string]*list.Element
}

func newLRUSet(max int) *lruSet {
	return &lruSet{max: max, ll: list.New(), m: make(map[string]*list.Element)}
}

func (s *lruSet) add(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.m[key]; ok {
		s.ll.MoveToFront(e)
		return
	}
	if s.ll.Len() >= s.max {
		old := s.ll.Back()
		s.ll.Remove(old)
		delete(s.m, old.Value.(string))
	}
	s.m[key] = s.ll.PushFront(key)
}

func (s *lruSet) has(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.m[key]
	return ok
}
