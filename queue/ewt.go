package queue

import (
	"math"
	"time"
)

// Wait estimates come from measured service. For each queue the machine
// keeps, over the last EWTWindow, how many sessions left the queue for an
// agent whose slot freed while they waited (departures), and how many
// agent-seconds of serving agents were available while sessions waited
// (busy agent time). Their ratio is the rate at which one available agent
// frees a slot for the queue. The estimate for position p with A agents
// available now, F of their slots free, is
//
//	ewt = max(0, p-F) / (A * rate),  rate = (departures + 1) / (busy agent-seconds + EWTPriorGap)
//
// The one pseudo-departure per EWTPriorGap agent-seconds is the prior used
// before anything was measured; it weighs less as history accrues.
// Sessions an idle agent took the moment they arrived are not
// departures: they say nothing about how fast slots free. With no agent
// available there is no estimate.
const (
	// EWTWindow is how far back service is measured.
	EWTWindow = 15 * time.Minute
	// EWTPriorGap is the assumed time one agent takes to free a slot,
	// before any service was measured.
	EWTPriorGap = 30 * time.Second
	// ewtBucket is the resolution of the window.
	ewtBucket = time.Minute
	// ewtBuckets covers the window and the bucket under way.
	ewtBuckets = int(EWTWindow/ewtBucket) + 1
)

// A waiting customer is told its place again, though its position and
// the agents available for its queue did not change, when its estimate
// drifted: it differs from the one last told by at least EWTDriftMin and
// by at least EWTDriftPercent of the old value (so 0 -> 15 s, 60 s ->
// 75 s and 600 s -> 480 s are told; 600 s -> 560 s and 10 s -> 20 s are
// not), and EWTDriftEvery has passed since the customer was last told
// anything. Pushes for a new position or a new number of agents available
// are not held back.
const (
	// EWTDriftMin is the least change of an estimate worth telling.
	EWTDriftMin = 15 * time.Second
	// EWTDriftPercent is the least change of an estimate worth telling,
	// in percent of the estimate last told.
	EWTDriftPercent = 20
	// EWTDriftEvery is the least time between a push to a customer and a
	// push to it for a drifted estimate only.
	EWTDriftEvery = 10 * time.Second
	// ewtDriftScan bounds the drift check of a tick at which nothing else
	// changed: per queue, the first ewtDriftScan positions and the next
	// ewtDriftScan sessions after a cursor that goes round the queue, so
	// at most 2*ewtDriftScan sessions per queue. Elsewhere customers are
	// checked at least once every Len/ewtDriftScan ticks, and at every tick
	// that changed their queue.
	ewtDriftScan = 64
)

// drifted reports whether an estimate moved from old to now enough to be
// told again (see EWTDriftMin).
func drifted(old, now int) bool {
	d := now - old
	if d < 0 {
		d = -d
	}
	return d >= int(EWTDriftMin/time.Second) && d*100 >= old*EWTDriftPercent
}

// svcBucket holds one minute of service history.
type svcBucket struct {
	minute     int64 // unix minute the bucket holds; 0 = empty
	departures int
	agentSecs  float64
}

// service measures one queue's service over the window. It is fed times
// by the machine and never reads the clock.
type service struct {
	buckets [ewtBuckets]svcBucket
	// lastObs is the latest time observed; busy and avail describe the
	// queue since then.
	lastObs time.Time
	busy    bool
	avail   int
}

func (s *service) bucket(minute int64) *svcBucket {
	b := &s.buckets[int(minute%int64(ewtBuckets))]
	if b.minute != minute {
		*b = svcBucket{minute: minute}
	}
	return b
}

// observe accounts the time from the last observation to now with the
// state seen then. Time going back is ignored.
func (s *service) observe(now time.Time) {
	if s.lastObs.IsZero() || !now.After(s.lastObs) {
		if s.lastObs.IsZero() {
			s.lastObs = now
		}
		return
	}
	from := s.lastObs
	s.lastObs = now
	if !s.busy || s.avail == 0 {
		return
	}
	if start := now.Add(-EWTWindow - ewtBucket); from.Before(start) {
		from = start // older time would fall out of the window anyway
	}
	for from.Before(now) {
		minute := from.Unix() / 60
		end := time.Unix((minute+1)*60, 0)
		if end.After(now) {
			end = now
		}
		s.bucket(minute).agentSecs += end.Sub(from).Seconds() * float64(s.avail)
		from = end
	}
}

// mark records the queue's state from the last observation on.
func (s *service) mark(busy bool, avail int) { s.busy, s.avail = busy, avail }

// depart counts a session that left for an agent at now.
func (s *service) depart(now time.Time) {
	if now.Before(s.lastObs) {
		now = s.lastObs
	}
	s.bucket(now.Unix()/60).departures++
}

// totals sums the window that ends at now.
func (s *service) totals(now time.Time) (departures int, agentSecs float64) {
	if now.Before(s.lastObs) {
		now = s.lastObs
	}
	cur := now.Unix() / 60
	for _, b := range s.buckets {
		if b.minute != 0 && b.minute > cur-int64(ewtBuckets) && b.minute <= cur {
			departures += b.departures
			agentSecs += b.agentSecs
		}
	}
	return departures, agentSecs
}

// estimate returns the wait in seconds of the session that waits for pos
// slots to free, with avail agents available, at now.
func (s *service) estimate(pos, avail int, now time.Time) int {
	if pos <= 0 || avail <= 0 {
		return 0
	}
	return estimateAt(pos, avail, s.rate(now))
}

// rate returns the rate at which one available agent frees a slot for
// the queue, per second, measured over the window that ends at now.
func (s *service) rate(now time.Time) float64 {
	n, secs := s.totals(now)
	return (float64(n) + 1) / (secs + EWTPriorGap.Seconds())
}

// estimateAt returns the wait in seconds of the session that waits for
// pos slots to free, with avail agents available, at the given rate.
func estimateAt(pos, avail int, rate float64) int {
	if pos <= 0 || avail <= 0 {
		return 0
	}
	return int(math.Round(float64(pos) / (float64(avail) * rate)))
}
