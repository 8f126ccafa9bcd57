package kafkahub

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// SASL mechanism names, as brokers and Options.SASL spell them.
const (
	MechanismPlain       = "PLAIN"
	MechanismScramSHA256 = "SCRAM-SHA-256"
	MechanismScramSHA512 = "SCRAM-SHA-512"
	MechanismOAuthBearer = "OAUTHBEARER"
)

// Options configure a Hub. Only Brokers is required: every other field has
// a default.
type Options struct {
	// Brokers are the seed brokers, "host:port" (the port defaults to 9092).
	// The client discovers the rest of the cluster from them.
	Brokers []string
	// Prefix starts every topic name (<prefix>.events, <prefix>.deliveries,
	// <prefix>.dlq) and consumer group id (<prefix>.<topic>.<group>), so
	// several deployments can share one cluster. Letters, digits, '.', '_'
	// and '-'. Default "herald".
	Prefix string
	// Partitions is the partition count of every topic. Zero adopts the
	// count of the topics that already exist (they must agree) and creates
	// missing ones with 4. A topic whose count differs from a non-zero
	// Partitions makes Connect fail: Kafka cannot shrink a topic, and
	// growing one would move keys to other partitions.
	Partitions int
	// ReplicationFactor is the replica count of topics the hub creates.
	// Zero asks for the broker's default (default.replication.factor; the
	// request form needs Kafka 2.4 or newer).
	ReplicationFactor int16
	// NoCreateTopics makes Connect fail when a topic is missing instead of
	// creating it: for clusters where topics are provisioned by an operator
	// or cannot be created over the Kafka protocol.
	NoCreateTopics bool
	// TLS, when set, encrypts every broker connection with this
	// configuration (its ServerName defaults to the broker's host).
	TLS *tls.Config
	// SASL, when set, authenticates every broker connection.
	SASL *SASL
	// ClientID names the process in broker logs and quotas. Default
	// "herald".
	ClientID string
	// Logger receives the driver's and the Kafka client's logs. Nil
	// discards them.
	Logger *slog.Logger
}

// SASL says how to authenticate to the brokers.
type SASL struct {
	// Mechanism is PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER
	// (case-insensitive).
	Mechanism string
	// User and Password are the credentials of PLAIN and SCRAM.
	User     string
	Password string
	// Token returns an OAUTHBEARER token. It is called for every
	// connection, so it may return a refreshed token each time.
	Token func(ctx context.Context) (string, error)
}

// validName is what the prefix may hold: Kafka's legal topic characters.
var validName = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// validPart is what hub topic and group names may hold.
var validPart = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// maxTopicLen is Kafka's limit on a topic name.
const maxTopicLen = 249

// withDefaults fills the zero fields and validates the rest.
func (o Options) withDefaults() (Options, error) {
	if o.Prefix == "" {
		o.Prefix = "herald"
	}
	if o.ReplicationFactor == 0 {
		o.ReplicationFactor = -1
	}
	if o.ClientID == "" {
		o.ClientID = "herald"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	var errs []error
	if len(o.Brokers) == 0 {
		errs = append(errs, errors.New("brokers: name at least one seed broker (host:port)"))
	}
	for _, b := range o.Brokers {
		if strings.TrimSpace(b) == "" || strings.Contains(b, "://") {
			errs = append(errs, fmt.Errorf("broker %q: want host:port", b))
		}
	}
	if !validName.MatchString(o.Prefix) || len(o.Prefix)+len(".deliveries") > maxTopicLen {
		errs = append(errs, fmt.Errorf("prefix %q may hold only letters, digits, '.', '_' and '-' and must leave room for the topic name", o.Prefix))
	}
	if o.Partitions < 0 || o.Partitions > 10000 {
		errs = append(errs, fmt.Errorf("partitions must be 0 (adopt or 4) .. 10000, got %d", o.Partitions))
	}
	if o.ReplicationFactor < -1 {
		errs = append(errs, fmt.Errorf("replication factor must be positive (or 0 for the broker default), got %d", o.ReplicationFactor))
	}
	if o.SASL != nil {
		if _, err := o.SASL.mechanism(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return o, fmt.Errorf("kafkahub: invalid options: %w", err)
	}
	return o, nil
}

// mechanism builds the franz-go SASL mechanism the settings name.
func (s *SASL) mechanism() (sasl.Mechanism, error) {
	switch strings.ToUpper(s.Mechanism) {
	case MechanismPlain:
		if s.User == "" {
			return nil, errors.New("sasl PLAIN needs a user")
		}
		return plain.Auth{User: s.User, Pass: s.Password}.AsMechanism(), nil
	case MechanismScramSHA256, MechanismScramSHA512:
		if s.User == "" || s.Password == "" {
			return nil, fmt.Errorf("sasl %s needs a user and a password", strings.ToUpper(s.Mechanism))
		}
		a := scram.Auth{User: s.User, Pass: s.Password}
		if strings.EqualFold(s.Mechanism, MechanismScramSHA256) {
			return a.AsSha256Mechanism(), nil
		}
		return a.AsSha512Mechanism(), nil
	case MechanismOAuthBearer:
		if s.Token == nil {
			return nil, errors.New("sasl OAUTHBEARER needs a Token function")
		}
		token := s.Token
		return oauth.Oauth(func(ctx context.Context) (oauth.Auth, error) {
			t, err := token(ctx)
			if err != nil {
				return oauth.Auth{}, fmt.Errorf("kafkahub: OAUTHBEARER token: %w", err)
			}
			return oauth.Auth{Token: t}, nil
		}), nil
	case "":
		return nil, errors.New("sasl: name a mechanism (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER)")
	default:
		return nil, fmt.Errorf("sasl mechanism %q is not supported: use PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER", s.Mechanism)
	}
}

// clientOpts are the connection options every client of the hub shares:
// brokers, TLS, SASL, client id and logging.
func (o Options) clientOpts() ([]kgo.Opt, error) {
	opts := []kgo.Opt{
		kgo.SeedBrokers(o.Brokers...),
		kgo.ClientID(o.ClientID),
		kgo.WithLogger(kgoLogger{o.Logger.With("component", "kafkahub", "client", "franz-go")}),
	}
	if o.TLS != nil {
		opts = append(opts, kgo.DialTLSConfig(o.TLS.Clone()))
	}
	if o.SASL != nil {
		m, err := o.SASL.mechanism()
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.SASL(m))
	}
	return opts, nil
}

// kgoLogger hands the Kafka client's logs to slog. The client's info logs
// (connections, group joins) become debug logs: they are routine.
type kgoLogger struct{ l *slog.Logger }

// Level asks the client for info logs only when slog would keep debug ones.
func (k kgoLogger) Level() kgo.LogLevel {
	if k.l.Enabled(context.Background(), slog.LevelDebug) {
		return kgo.LogLevelInfo
	}
	return kgo.LogLevelWarn
}

// Log writes one client log line.
func (k kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	l := slog.LevelDebug
	switch level {
	case kgo.LogLevelError:
		l = slog.LevelError
	case kgo.LogLevelWarn:
		l = slog.LevelWarn
	}
	k.l.Log(context.Background(), l, msg, keyvals...)
}
