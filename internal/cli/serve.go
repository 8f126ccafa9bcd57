package cli

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/herald/herald/internal/app"
	"github.com/herald/herald/internal/config"
	"github.com/herald/herald/internal/ingest"
)

// serveFlags registers the settings of a herald process on cmd.
func serveFlags(cmd *cobra.Command, o *app.Options) {
	f := cmd.Flags()
	f.String(config.FileFlag, "", "YAML file of settings (keys are flag names)")
	f.StringVar(&o.Addr, "addr", ":8080", "HTTP listen address")
	f.StringVar(&o.DataDir, "data", "./data", "directory for the embedded hub and the SQLite store")
	f.StringVar(&o.Store, "store", app.StoreSQLite, "store: sqlite (a file under --data) or postgres://user:password@host:5432/db?sslmode=require (shared by several processes)")
	config.MarkURL(f, "store")
	f.IntVar(&o.Partitions, "partitions", 4, "hub partitions per topic (fixed when the data directory is created)")
	f.IntVar(&o.MaxAttempts, "max-attempts", 8, "attempts before an event or delivery is dead-lettered")
	f.DurationVar(&o.MaxAge, "max-age", 24*time.Hour, "dead-letter a delivery still failing this long after its event was received (0: no limit)")
	f.IntVar(&o.BatchSize, "batch-size", 500, "most messages a worker handles at once")
	f.DurationVar(&o.AckWait, "ack-wait", 30*time.Second, "how long a batch may stay unsettled before the hub gives it to another worker (one that died mid-batch)")
	f.Int64Var(&o.Ingest.MaxBodyBytes, "max-body", ingest.DefaultMaxBodyBytes, "largest accepted request body in bytes")
	f.IntVar(&o.Ingest.MaxBatch, "max-batch", ingest.DefaultMaxBatch, "most events in one batch request")
	f.Int64Var(&o.Ingest.MaxLag, "max-lag", ingest.DefaultMaxLag, "most events waiting for the handler before POST /v1/events answers 429 with Retry-After (0: no bound)")
	f.Float64Var(&o.Ingest.KeyRate, "key-rate", 0, "most events per second one API key may send; 429 with Retry-After above it (0: no limit)")
	f.StringVar(&o.Hub.URL, "hub", "embedded", "event hub: embedded, nats://host:4222 (tls:// for TLS), or kafka://broker1:9092,broker2:9092")
	config.MarkURL(f, "hub")
	f.StringVar(&o.Hub.Prefix, "hub-prefix", "", "name prefix of hub streams, topics and groups (default HERALD for NATS, herald for Kafka)")
	f.StringVar(&o.Hub.User, "hub-user", "", "hub user (NATS user, Kafka SASL user)")
	f.StringVar(&o.Hub.Password, "hub-password", "", "hub password")
	config.MarkSecret(f, "hub-password")
	f.StringVar(&o.Hub.Creds, "hub-creds", "", "NATS credentials file")
	f.StringVar(&o.Hub.SASL, "hub-sasl", "", "Kafka SASL mechanism: plain, scram-sha-256 or scram-sha-512")
	f.BoolVar(&o.Hub.TLS, "hub-tls", false, "use TLS to Kafka brokers (trust from the system pool)")
	f.BoolVar(&o.SyncAlways, "sync-always", false, "flush the hub and the store to disk on every write (survives power loss; much slower)")
	f.DurationVar(&o.ShutdownTimeout, "shutdown-timeout", 0, "longest graceful drain on shutdown (default 30s)")
	pushFlags(cmd, &o.Push)
	conversationFlags(cmd, &o.Conversation)
	timingFlags(cmd, &o.Timing)
	f.StringVar(&o.SessionSecret, "session-secret", "", "secret (16+ bytes) signing user sessions of the web app; set the same on every api process (default: a random one kept in memory)")
	config.MarkSecret(f, "session-secret")
	f.StringSliceVar(&o.OutboundAllow, "outbound-allow", nil, "internal address ranges (CIDR) that Web Push endpoints and Bot Framework serviceUrls may reach; loopback, private and link-local are refused otherwise")
	sourcesDirFlag(cmd, &o.SourcesDir)
	f.StringSliceVar(&o.Roles, "roles", app.AllRoles, "parts this process runs: api (HTTP, assistant, Direct Line), handler (events, broadcasts), delivery (channel workers)")
}

func newServeCmd() *cobra.Command {
	var o app.Options
	var lf logFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run herald: API, handler and delivery workers in one process",
		Long: "Run herald with everything in one process: the HTTP API, the event handler and the\n" +
			"channel workers, on an embedded NATS JetStream hub and a SQLite store under --data.\n" +
			"SIGINT or SIGTERM stops taking work, drains what is in flight, then exits.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := resolve(cmd); err != nil {
				return err
			}
			log, err := lf.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			o.Logger = log
			a, err := app.Open(cmd.Context(), o)
			if err != nil {
				return err
			}
			return a.Run(cmd.Context())
		},
	}
	serveFlags(cmd, &o)
	lf.register(cmd)
	return cmd
}
