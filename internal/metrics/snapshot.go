package metrics

import (
	"time"

	dto "github.com/prometheus/client_model/go"
)

// Snapshot is this process's counters at one moment, for the web console's
// live dashboard (which polls it and computes rates). Counters only grow
// (until the process restarts), so a client differences two snapshots.
type Snapshot struct {
	At time.Time `json:"at"`
	// EventsIngested counts events accepted by ingest.
	EventsIngested float64 `json:"eventsIngested"`
	// IngestRejected counts refused ingest requests.
	IngestRejected float64 `json:"ingestRejected"`
	// Deliveries counts outcomes by channel then outcome.
	Deliveries map[string]map[string]float64 `json:"deliveries"`
	// DeadLetters counts messages moved to the dead-letter stream.
	DeadLetters float64 `json:"deadLetters"`
	// HubLag is the backlog of each topic's consumer group (absent when the
	// hub did not answer).
	HubLag map[string]float64 `json:"hubLag"`
}

// Snapshot gathers the registry's herald collectors into a Snapshot.
func (m *Metrics) Snapshot(now time.Time) (Snapshot, error) {
	s := Snapshot{At: now.UTC(), Deliveries: map[string]map[string]float64{}, HubLag: map[string]float64{}}
	families, err := m.Registry.Gather()
	if err != nil && len(families) == 0 {
		return s, err
	}
	for _, f := range families {
		for _, mt := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range mt.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			switch f.GetName() {
			case "herald_events_ingested_total":
				s.EventsIngested += value(mt)
			case "herald_ingest_rejected_total":
				s.IngestRejected += value(mt)
			case "herald_dead_letters_total":
				s.DeadLetters += value(mt)
			case "herald_deliveries_total":
				ch := labels["channel"]
				if s.Deliveries[ch] == nil {
					s.Deliveries[ch] = map[string]float64{}
				}
				s.Deliveries[ch][labels["outcome"]] += value(mt)
			case "herald_hub_lag_messages":
				s.HubLag[labels["topic"]] += value(mt)
			}
		}
	}
	return s, nil
}

func value(m *dto.Metric) float64 {
	switch {
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue()
	}
	return 0
}
