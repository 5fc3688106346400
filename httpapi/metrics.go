package httpapi

import (
	"net/http"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/parley"
)

// hubCollector turns a hub's Stats snapshot into Prometheus metrics at
// scrape time, so chat keeps no metrics library of its own.
type hubCollector struct {
	hub   *chat.Hub
	hits  *limitHits
	descs map[string]*prometheus.Desc
}

var metricHelp = map[string]string{
	"parley_open_sessions":                   "Sessions not yet ended.",
	"parley_queue_waiting":                   "Sessions waiting for an agent.",
	"parley_queue_oldest_wait_seconds":       "How long the oldest waiting session has waited.",
	"parley_agents":                          "Agents by status.",
	"parley_messages_total":                  "Messages stored.",
	"parley_duplicate_sends_total":           "Sends answered with an earlier acknowledgement (retries).",
	"parley_assignments_total":               "Agents joined to sessions.",
	"parley_sessions_ended_total":            "Sessions ended.",
	"parley_storage_commits_total":           "Group commits (each one fsync).",
	"parley_storage_writes_total":            "Write operations stored by group commits.",
	"parley_connections":                     "Open WebSocket connections by role.",
	"parley_storage_commit_duration_seconds": "Latency of group commits, fsync included.",
	"parley_limits_hit_total":                "Requests, connections and frames refused by a limit against abuse, by limit (named after its serve flag).",
}

// limitKind names a limit against abuse for parley_limits_hit_total.
type limitKind int

const (
	hitConnsPerIP limitKind = iota
	hitCustomerConns
	hitConnsPerCustomer
	hitConnsPerAgent
	hitSendRate
	hitCommandRate
	hitLogin
	hitAnonymous
	hitConnectorRate
	hitUploads
	numLimitKinds
)

// limitNames are the label values of parley_limits_hit_total: the serve
// flags that set each limit.
var limitNames = [numLimitKinds]string{
	"max_conns_per_ip", "max_customer_conns", "max_conns_per_customer", "max_conns_per_agent",
	"send_rate", "command_rate", "login", "anonymous_per_minute", "connector_rate",
	"uploads_per_minute",
}

// limitHits counts refusals by limit.
type limitHits [numLimitKinds]atomic.Uint64

func (h *limitHits) hit(k limitKind) { h[k].Add(1) }

func newHubCollector(hub *chat.Hub, hits *limitHits) *hubCollector {
	c := &hubCollector{hub: hub, hits: hits, descs: make(map[string]*prometheus.Desc)}
	for name, help := range metricHelp {
		var labels []string
		switch name {
		case "parley_agents":
			labels = []string{"status"}
		case "parley_connections":
			labels = []string{"role"}
		case "parley_limits_hit_total":
			labels = []string{"limit"}
		}
		c.descs[name] = prometheus.NewDesc(name, help, labels, nil)
	}
	return c
}

// Describe implements prometheus.Collector.
func (c *hubCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *hubCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.hub.Stats()
	gauge := func(name string, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(c.descs[name], prometheus.GaugeValue, v, labels...)
	}
	counter := func(name string, v uint64) {
		ch <- prometheus.MustNewConstMetric(c.descs[name], prometheus.CounterValue, float64(v))
	}
	gauge("parley_open_sessions", float64(st.OpenSessions))
	gauge("parley_queue_waiting", float64(st.Queued))
	gauge("parley_queue_oldest_wait_seconds", float64(st.OldestWaitS))
	for _, status := range []string{parley.StatusAvailable, parley.StatusDraining, parley.StatusBreak, parley.StatusOffline} {
		gauge("parley_agents", float64(st.AgentsByStatus[status]), status)
	}
	gauge("parley_connections", float64(st.CustomerConns), "customer")
	gauge("parley_connections", float64(st.AgentConns), "agent")
	counter("parley_messages_total", st.Messages)
	counter("parley_duplicate_sends_total", st.Duplicates)
	counter("parley_assignments_total", st.Assignments)
	counter("parley_sessions_ended_total", st.SessionsEnded)
	counter("parley_storage_commits_total", st.StorageCommits)
	counter("parley_storage_writes_total", st.StorageWrites)
	h := st.StorageCommitSeconds
	ch <- prometheus.MustNewConstHistogram(c.descs["parley_storage_commit_duration_seconds"], h.Count, h.SumSeconds, h.Cumulative)
	for k, name := range limitNames {
		ch <- prometheus.MustNewConstMetric(c.descs["parley_limits_hit_total"], prometheus.CounterValue, float64(c.hits[k].Load()), name)
	}
}

// metricsHandler serves the hub's metrics, the limits hit, Go runtime,
// process and build metrics from a registry of the server's own (no
// global state).
func metricsHandler(hub *chat.Hub, hits *limitHits) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(newHubCollector(hub, hits), collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collectors.NewBuildInfoCollector())
	reg.MustRegister(newOutboxCollector(hub))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}
