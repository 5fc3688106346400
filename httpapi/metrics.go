package httpapi

import (
	"net/http"

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
	descs map[string]*prometheus.Desc
}

var metricHelp = map[string]string{
	"parley_open_sessions":             "Sessions not yet ended.",
	"parley_queue_waiting":             "Sessions waiting for an agent.",
	"parley_queue_oldest_wait_seconds": "How long the oldest waiting session has waited.",
	"parley_agents":                    "Agents by status.",
	"parley_messages_total":            "Messages stored.",
	"parley_duplicate_sends_total":     "Sends answered with an earlier acknowledgement (retries).",
	"parley_assignments_total":         "Agents joined to sessions.",
	"parley_sessions_ended_total":      "Sessions ended.",
	"parley_storage_commits_total":     "Group commits (each one fsync).",
	"parley_storage_writes_total":      "Write operations stored by group commits.",
	"parley_connections":               "Open WebSocket connections by role.",
}

func newHubCollector(hub *chat.Hub) *hubCollector {
	c := &hubCollector{hub: hub, descs: make(map[string]*prometheus.Desc)}
	for name, help := range metricHelp {
		var labels []string
		switch name {
		case "parley_agents":
			labels = []string{"status"}
		case "parley_connections":
			labels = []string{"role"}
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
}

// metricsHandler serves the hub's metrics plus Go runtime and process
// metrics from a registry of the server's own (no global state).
func metricsHandler(hub *chat.Hub) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(newHubCollector(hub), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(newOutboxCollector(hub))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}
