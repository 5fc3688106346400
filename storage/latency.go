package storage

import (
	"sync/atomic"
	"time"
)

// CommitBuckets are the upper bounds, in seconds, of the commit latency
// histogram: from well under a fast fsync to a disk in trouble.
var CommitBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}

// latencyHistogram counts durations into CommitBuckets, lock-free.
type latencyHistogram struct {
	counts [13]atomic.Uint64 // one per bucket, the last for +Inf
	sumNS  atomic.Uint64
}

func (h *latencyHistogram) observe(d time.Duration) {
	s := d.Seconds()
	i := 0
	for i < len(CommitBuckets) && s > CommitBuckets[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sumNS.Add(uint64(max(d, 0)))
}

// Histogram is a snapshot of a latency histogram in Prometheus' form.
type Histogram struct {
	// Cumulative maps each upper bound of CommitBuckets to the number of
	// observations at or below it.
	Cumulative map[float64]uint64
	Count      uint64
	SumSeconds float64
}

func (h *latencyHistogram) snapshot() Histogram {
	out := Histogram{Cumulative: make(map[float64]uint64, len(CommitBuckets))}
	var n uint64
	for i, le := range CommitBuckets {
		n += h.counts[i].Load()
		out.Cumulative[le] = n
	}
	out.Count = n + h.counts[len(CommitBuckets)].Load()
	out.SumSeconds = float64(h.sumNS.Load()) / 1e9
	return out
}
