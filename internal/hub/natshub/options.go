package natshub

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"time"
)

// Retention says when a topic's stream removes a message.
type Retention int

const (
	// RetentionWorkQueue removes a message once it is acknowledged. A topic
	// then has exactly one consumer group (shared by any number of
	// processes); creating a second group fails with ErrGroupConflict.
	RetentionWorkQueue Retention = iota
	// RetentionLimits keeps messages until MaxAge whether or not they were
	// acknowledged, like a Kafka topic: every group reads every message,
	// and a new group starts at the oldest message kept.
	RetentionLimits
)

// String names the retention as the NATS documentation does.
func (r Retention) String() string {
	switch r {
	case RetentionWorkQueue:
		return "workqueue"
	case RetentionLimits:
		return "limits"
	default:
		return fmt.Sprintf("Retention(%d)", int(r))
	}
}

// Options configure a Hub. The zero value is valid: every field has a default.
type Options struct {
	// Partitions is the partition count of every topic. Default 4. It must
	// not shrink while a work-queue stream still holds messages on the
	// partitions removed; Connect refuses to start then.
	Partitions int
	// Prefix names the streams (<PREFIX>_EVENTS, <PREFIX>_DELIVERIES,
	// <PREFIX>_DLQ) and, lower-cased, the subjects (<prefix>.events.<p>).
	// Letters, digits, '_' and '-'. Default "HERALD".
	Prefix string
	// DupWindow is how long the server remembers Message.ID to drop a
	// re-publish. Default 2 minutes.
	DupWindow time.Duration
	// SyncAlways makes the embedded server fsync every write, so a
	// published message survives a power loss, at a large throughput cost.
	// Without it the file store syncs every 2 minutes and a message
	// survives the crash of any process but not of the machine. Only
	// Embedded uses it: an external server has its own setting.
	SyncAlways bool
	// MaxAckPending is how many messages of one partition may be delivered
	// and not yet settled for a group. Default 20000.
	MaxAckPending int
	// Retention picks work-queue (default) or limits retention for topic
	// streams. It cannot change for an existing stream.
	Retention Retention
	// MaxAge bounds how long RetentionLimits keeps a message. Zero keeps
	// messages until the disk limit of the server.
	MaxAge time.Duration
	// Logger receives the driver's and the embedded server's logs. Nil
	// discards them.
	Logger *slog.Logger
}

// validName is what Prefix, topics and groups may contain: it is safe in
// stream, consumer and subject names alike.
var validName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// withDefaults fills the zero fields and validates the rest.
func (o Options) withDefaults() (Options, error) {
	if o.Partitions == 0 {
		o.Partitions = 4
	}
	if o.Prefix == "" {
		o.Prefix = "HERALD"
	}
	if o.DupWindow == 0 {
		o.DupWindow = 2 * time.Minute
	}
	if o.MaxAckPending == 0 {
		o.MaxAckPending = 20000
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	var errs []error
	if o.Partitions < 1 || o.Partitions > 1024 {
		errs = append(errs, fmt.Errorf("partitions must be 1..1024, got %d", o.Partitions))
	}
	if !validName.MatchString(o.Prefix) {
		errs = append(errs, fmt.Errorf("prefix %q may hold only letters, digits, '_' and '-'", o.Prefix))
	}
	if o.DupWindow < 0 {
		errs = append(errs, fmt.Errorf("dup window must not be negative, got %s", o.DupWindow))
	}
	if o.MaxAckPending < 1 {
		errs = append(errs, fmt.Errorf("max ack pending must be positive, got %d", o.MaxAckPending))
	}
	if o.Retention != RetentionWorkQueue && o.Retention != RetentionLimits {
		errs = append(errs, fmt.Errorf("unknown retention %d", int(o.Retention)))
	}
	if o.MaxAge < 0 {
		errs = append(errs, fmt.Errorf("max age must not be negative, got %s", o.MaxAge))
	}
	if err := errors.Join(errs...); err != nil {
		return o, fmt.Errorf("natshub: invalid options: %w", err)
	}
	return o, nil
}
