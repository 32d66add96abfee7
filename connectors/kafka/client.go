package kafka

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"
	"github.com/twmb/franz-go/plugin/kslog"
)

// Config is what every shopstream Kafka client shares.
type Config struct {
	// Brokers are the seed brokers, host:port.
	Brokers []string
	// ClientIDPrefix names this process to the brokers; each client appends
	// its role ("shopstream-producer").
	ClientIDPrefix string
	// PublishTimeout bounds how long the ingress waits for the broker to
	// acknowledge a record before answering 503.
	PublishTimeout time.Duration
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{ClientIDPrefix: "shopstream", PublishTimeout: 5 * time.Second}
}

// Validate reports the first bad field.
func (c Config) Validate() error {
	if len(c.Brokers) == 0 {
		return errors.New("no seed brokers")
	}
	if c.PublishTimeout <= 0 {
		return errors.New("publish timeout must be positive")
	}
	return nil
}

// NewClient builds a franz-go client for one role ("producer", "processor",
// "admin", ...). The options shared by every role are set here, each with the
// reason it is set; role-specific options come in extra.
func NewClient(cfg Config, role string, logger *slog.Logger, reg prometheus.Registerer, extra ...kgo.Opt) (*kgo.Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("kafka %s client: %w", role, err)
	}
	opts := []kgo.Opt{
		// Seed brokers; the rest of the cluster is discovered.
		kgo.SeedBrokers(cfg.Brokers...),
		// One client id per role so broker logs, quotas and the kprom
		// client_id label tell the roles apart.
		kgo.ClientID(cfg.ClientIDPrefix + "-" + role),
		// franz-go's own log lines, at warn and above, through our slog.
		kgo.WithLogger(kslog.New(logger.With("component", "kafka", "role", role))),
		// Keep retrying a broker that is down; callers bound waits with their
		// own contexts (the ingress answers 503, the processor pauses).
		kgo.RetryTimeout(0),
		// After an error (a leader moved, a broker came back, a topic was
		// just created) fresh metadata is fetched within a quarter second,
		// not the default five: the ingress's publish deadline is 5 s.
		kgo.MetadataMinAge(250 * time.Millisecond),
		// A topic that vanished is reported rather than waited for forever.
		kgo.ConsiderMissingTopicDeletedAfter(15 * time.Second),
	}
	if reg != nil {
		metrics := kprom.NewMetrics("shopstream",
			kprom.Subsystem("kafka"),
			kprom.Registerer(reg),
			kprom.WithClientLabel(),
		)
		// Connection, request, produce and fetch metrics of this client.
		opts = append(opts, kgo.WithHooks(metrics))
	}
	opts = append(opts, extra...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka %s client: %w", role, err)
	}
	return cl, nil
}
