// Package metrics defines herald's Prometheus collectors. They live on a
// registry created per process and are handed to the components that update
// them; nothing here is global.
package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/herald/herald/internal/hub"
	"github.com/herald/herald/internal/store"
)

// Metrics holds every collector herald updates.
type Metrics struct {
	Registry *prometheus.Registry
	// EventsIngested counts events accepted by ingest, by the form they came in.
	EventsIngested *prometheus.CounterVec
	// IngestRejected counts requests refused at the edge, by HTTP status.
	IngestRejected *prometheus.CounterVec
	// Deliveries counts recorded outcomes by channel and outcome.
	Deliveries *prometheus.CounterVec
	// EndToEnd measures ingest -> delivered, by channel.
	EndToEnd *prometheus.HistogramVec
	// DeadLetters counts messages sent to the dead-letter place, by topic.
	DeadLetters *prometheus.CounterVec
}

// New registers herald's collectors, and the Go runtime and process ones, on a
// fresh registry.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		EventsIngested: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_events_ingested_total", Help: "Events accepted by ingest and stored in the hub.",
		}, []string{"mode"}),
		IngestRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_ingest_rejected_total", Help: "Ingest requests refused, by HTTP status.",
		}, []string{"status"}),
		Deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_deliveries_total", Help: "Delivery outcomes recorded, by channel and outcome.",
		}, []string{"channel", "outcome"}),
		EndToEnd: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "herald_delivery_latency_seconds",
			Help:    "Time from ingest to delivery, by channel.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"channel"}),
		DeadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_dead_letters_total", Help: "Messages moved to the dead-letter stream, by topic.",
		}, []string{"topic"}),
	}
	m.Registry.MustRegister(m.EventsIngested, m.IngestRejected, m.Deliveries, m.EndToEnd, m.DeadLetters,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// CountOutcomes adds recorded outcomes to the deliveries counter, one
// label lookup per distinct (channel, outcome).
func (m *Metrics) CountOutcomes(outcomes []store.DeliveryRecord) {
	type key struct{ channel, outcome string }
	counts := map[key]int{}
	for _, o := range outcomes {
		counts[key{o.Channel, string(o.Outcome)}]++
	}
	for k, n := range counts {
		m.Deliveries.WithLabelValues(k.channel, k.outcome).Add(float64(n))
	}
}

// RegisterHubLag exports the backlog of each (topic, group) as
// herald_hub_lag_messages, read from the hub at scrape time.
func (m *Metrics) RegisterHubLag(h hub.Hub, groups map[string]string) {
	m.Registry.MustRegister(&lagCollector{hub: h, groups: groups, desc: prometheus.NewDesc(
		"herald_hub_lag_messages", "Messages not yet settled by a consumer group.", []string{"topic", "group"}, nil)})
}

type lagCollector struct {
	hub    hub.Hub
	groups map[string]string // topic -> group
	desc   *prometheus.Desc
}

func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for topic, group := range c.groups {
		lag, err := c.hub.Lag(ctx, topic, group)
		if err != nil {
			ch <- prometheus.NewInvalidMetric(c.desc, err)
			continue
		}
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(lag.Pending), topic, group)
	}
}
