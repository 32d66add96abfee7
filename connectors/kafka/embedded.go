package kafka

import (
	"fmt"
	"net"
	"strconv"

	"github.com/twmb/franz-go/pkg/kfake"
)

// EmbeddedConfig configures the in-process broker of `shopstream dev`.
type EmbeddedConfig struct {
	// DataDir persists the log across restarts; empty keeps it in memory.
	DataDir string
	// Addr is the host:port it listens on, so kcat and other clients can
	// connect. Port 0 picks a free port.
	Addr string
}

// Embedded is a single-broker kfake cluster. It is for `dev` and unit tests
// that need fault injection, never for the integration suite.
type Embedded struct {
	cluster *kfake.Cluster
}

// StartEmbedded starts the broker. Only the loopback interface is allowed:
// kfake has no authentication.
func StartEmbedded(cfg EmbeddedConfig) (*Embedded, error) {
	host, portText, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("embedded broker address %q: %w", cfg.Addr, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("embedded broker address %q: bad port", cfg.Addr)
	}
	ip := net.ParseIP(host)
	if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("embedded broker address %q: must be a loopback address", cfg.Addr)
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(port),
		kfake.ClusterID("shopstream-dev"),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			return net.Listen(network, net.JoinHostPort(host, strconv.Itoa(port)))
		}),
	}
	if cfg.DataDir != "" {
		opts = append(opts, kfake.DataDir(cfg.DataDir))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("start embedded broker: %w", err)
	}
	return &Embedded{cluster: c}, nil
}

// Addrs are the broker addresses to give clients.
func (e *Embedded) Addrs() []string { return e.cluster.ListenAddrs() }

// Close stops the broker, writing its state to the data dir.
func (e *Embedded) Close() { e.cluster.Close() }
