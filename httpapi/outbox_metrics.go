package httpapi

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parley-chat/parley/chat"
)

// outboxCollector reports the outbox's jobs by kind and state at scrape
// time: a growing pending or dead count is a mail server or webhook
// receiver in trouble.
type outboxCollector struct {
	hub  *chat.Hub
	desc *prometheus.Desc
}

func newOutboxCollector(hub *chat.Hub) *outboxCollector {
	return &outboxCollector{hub: hub, desc: prometheus.NewDesc("parley_outbox_jobs",
		"Outbox jobs (mails, webhook deliveries) by kind and state.", []string{"kind", "state"}, nil)}
}

// Describe implements prometheus.Collector.
func (c *outboxCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector.
func (c *outboxCollector) Collect(ch chan<- prometheus.Metric) {
	counts, err := c.hub.OutboxCounts()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	for _, kind := range []string{"mail", "webhook"} {
		for _, state := range []string{"pending", "sent", "dead"} {
			ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(counts[kind][state]), kind, state)
		}
	}
}
