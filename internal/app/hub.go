package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/herald/herald/internal/hub"
	"github.com/herald/herald/internal/hub/kafkahub"
	"github.com/herald/herald/internal/hub/natshub"
)

// HubOptions pick and reach the event hub.
type HubOptions struct {
	// URL is "embedded" (or empty) for the in-process NATS JetStream,
	// nats://host:4222[,nats://host2:4222] (tls:// for TLS) for an external
	// NATS cluster, or kafka://broker1:9092,broker2:9092 for Kafka, Redpanda
	// or Azure Event Hubs' Kafka endpoint.
	URL string
	// Prefix names streams, topics and consumer groups, so several
	// deployments can share one cluster.
	Prefix string
	// User and Password authenticate to the hub (NATS user/password, Kafka
	// SASL); Creds is a NATS credentials file.
	User, Password, Creds string
	// SASL is the Kafka mechanism: plain, scram-sha-256, scram-sha-512.
	SASL string
	// TLS encrypts Kafka connections (NATS uses the tls:// scheme).
	TLS bool
}

// closingHub closes the connection it was opened on after the hub.
type closingHub struct {
	hub.Hub
	close func()
}

func (h closingHub) Close() error {
	err := h.Hub.Close()
	h.close()
	return err
}

// openHub connects the hub that opts name.
func openHub(ctx context.Context, opts Options, log *slog.Logger) (hub.Hub, error) {
	o := opts.Hub
	scheme, rest, _ := strings.Cut(o.URL, "://")
	switch {
	case o.URL == "" || o.URL == "embedded":
		return natshub.Embedded(ctx, filepath.Join(opts.DataDir, "hub"), natshub.Options{
			Partitions: opts.Partitions, SyncAlways: opts.SyncAlways, Prefix: prefixOr(o.Prefix, "HERALD"), Logger: log,
		})
	case scheme == "nats" || scheme == "tls":
		natsOpts := []nats.Option{nats.Name("herald"), nats.MaxReconnects(-1)}
		if o.Creds != "" {
			natsOpts = append(natsOpts, nats.UserCredentials(o.Creds))
		}
		if o.User != "" {
			natsOpts = append(natsOpts, nats.UserInfo(o.User, o.Password))
		}
		nc, err := nats.Connect(o.URL, natsOpts...)
		if err != nil {
			return nil, fmt.Errorf("connect to NATS at %s: %w", redactURL(o.URL), err)
		}
		h, err := natshub.Connect(ctx, nc, natshub.Options{Partitions: opts.Partitions, Prefix: prefixOr(o.Prefix, "HERALD"), Logger: log})
		if err != nil {
			nc.Close()
			return nil, err
		}
		return closingHub{Hub: h, close: nc.Close}, nil
	case scheme == "kafka":
		k := kafkahub.Options{Brokers: strings.Split(rest, ","), Partitions: opts.Partitions, Prefix: prefixOr(o.Prefix, "herald"), Logger: log}
		if o.TLS {
			k.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		if o.SASL != "" {
			k.SASL = &kafkahub.SASL{Mechanism: o.SASL, User: o.User, Password: o.Password}
		}
		return kafkahub.Connect(ctx, k)
	}
	return nil, errors.New("--hub: " + redactURL(o.URL) + " is not embedded, nats://, tls:// or kafka://")
}

func prefixOr(p, def string) string {
	if p == "" {
		return def
	}
	return p
}

// redactURL drops credentials from a URL for messages.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	u.User = url.User("redacted")
	return u.String()
}
