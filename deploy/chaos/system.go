package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/shopstream/connectors/coze/cozetest"
	"github.com/shopstream/shopstream/pipeline"
)

// Ports, from a base in the chaos block 19500-19599: Kafka base+0/+1 and
// ClickHouse base+10/+11 (deploy/local), then what this program starts:
// serve base+20, admin listeners base+21.. (serve, process x3, sink; the
// one-shot tools base+29), inbox base+30, Coze base+31. The suite uses base
// 19500, the soak benchmark 19550, so that both can run at once.
var (
	kafkaPort, kafkaControllerPort int
	chTCPPort, chHTTPPort          int
	servePort                      int
	adminPortBase                  int // serve +0, process +1..+3, sink +4, one-shot tools +8
	inboxPort, cozePort            int
)

// portBlock is the chaos block; setPorts refuses a base whose ports leave it.
const portBlockLow, portBlockHigh = 19500, 19599

func setPorts(base int) error {
	if base < portBlockLow || base+31 > portBlockHigh {
		return fmt.Errorf("port base %d: the ports base..base+31 must stay inside %d-%d", base, portBlockLow, portBlockHigh)
	}
	kafkaPort, kafkaControllerPort = base, base+1
	chTCPPort, chHTTPPort = base+10, base+11
	servePort, adminPortBase = base+20, base+21
	inboxPort, cozePort = base+30, base+31
	return nil
}

// system is everything a scenario can observe or break.
type system struct {
	repo, varDir string
	brokers      []string
	sup          *supervisor
	inbox        *inbox
	coze         *cozetest.Server
	cozeSrv      *http.Server
	reg          *registry
	send         *sender
	kcl          *kgo.Client
	adm          *kadm.Client
	ch           clickhouse
	cozeDown     atomic.Bool // the Coze proxy answers 503 to everything
	ownInfra     bool
	toolEnv      []string // environment of one-shot commands (topics, migrate, replay)
}

func (s *system) script(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, filepath.Join(s.repo, "deploy/local", name), args...)
	cmd.Env = append(os.Environ(),
		fmt.Sprintf("KAFKA_PORT=%d", kafkaPort), fmt.Sprintf("KAFKA_CONTROLLER_PORT=%d", kafkaControllerPort),
		fmt.Sprintf("CLICKHOUSE_TCP_PORT=%d", chTCPPort), fmt.Sprintf("CLICKHOUSE_HTTP_PORT=%d", chHTTPPort),
		"SHOPSTREAM_VAR="+s.varDir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

func (s *system) kafka(ctx context.Context, verb string) error {
	return s.script(ctx, "kafka.sh", verb)
}
func (s *system) clickhouse(ctx context.Context, verb string) error {
	return s.script(ctx, "clickhouse.sh", verb)
}

// up builds the binary, starts (or reuses) the infrastructure and the
// fakes, creates topics and tables, and starts 1 serve, 3 process, 1 sink.
// Data, logs and the binary live in var/<varName> (or $SHOPSTREAM_VAR).
func up(ctx context.Context, repo string, reuse bool, varName string) (*system, error) {
	s := &system{repo: repo, varDir: filepath.Join(repo, "var", varName),
		brokers: []string{fmt.Sprintf("127.0.0.1:%d", kafkaPort)},
		ch:      clickhouse{url: fmt.Sprintf("http://127.0.0.1:%d", chHTTPPort)},
		reg:     &registry{m: map[string]*event{}}, ownInfra: !reuse}
	if v := os.Getenv("SHOPSTREAM_VAR"); v != "" {
		s.varDir = v
	}
	logDir := filepath.Join(s.varDir, "logs", time.Now().UTC().Format("20060102T150405"))
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return s, err
	}
	logf("logs in %s", logDir)
	// A binary of this run's own (not bin/shopstream): a suite and a soak
	// running side by side never restart a process from the other's build.
	bin := filepath.Join(s.varDir, "bin", "shopstream")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/shopstream")
	build.Dir = repo
	if out, err := build.CombinedOutput(); err != nil {
		return s, fmt.Errorf("build: %w\n%s", err, out)
	}
	if !reuse {
		logf("starting Kafka :%d (empty) and ClickHouse :%d", kafkaPort, chTCPPort)
		// An empty broker: a record an earlier run left parked in a retry
		// tier (a 1 h Retry-After on old code) would be lag forever.
		if err := s.kafka(ctx, "purge"); err != nil {
			return s, err
		}
		if err := s.kafka(ctx, "start"); err != nil {
			return s, err
		}
		if err := s.clickhouse(ctx, "start"); err != nil {
			return s, err
		}
	}
	var err error
	if s.kcl, err = kgo.NewClient(kgo.SeedBrokers(s.brokers...)); err != nil {
		return s, err
	}
	s.adm = kadm.NewClient(s.kcl)

	token := randText(12)
	if s.inbox, err = newInbox(fmt.Sprintf("127.0.0.1:%d", inboxPort), token, s.reg); err != nil {
		return s, err
	}
	// The Coze fake listens where httptest puts it; the system is given a
	// proxy in the chaos port block, so every configured address is ours.
	s.coze = cozetest.NewServer("coze-"+token, "7400000000000000001")
	target, _ := url.Parse(s.coze.URL)
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", cozePort))
	if err != nil {
		return s, fmt.Errorf("coze proxy: %w", err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	s.cozeSrv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.cozeDown.Load() {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"code":503,"msg":"knowledge base unavailable (chaos)"}`))
			return
		}
		proxy.ServeHTTP(w, r)
	}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.cozeSrv.Serve(ln) }()

	key := make([]byte, 24)
	_, _ = rand.Read(key)
	secretText := "whsec_" + base64.StdEncoding.EncodeToString(key)
	secrets, err := pipeline.ParseSecrets(secretText)
	if err != nil {
		return s, err
	}
	s.send = &sender{url: fmt.Sprintf("http://127.0.0.1:%d", servePort), secret: secrets[0], workers: 16,
		giveUp: 3 * time.Minute, client: &http.Client{Timeout: 10 * time.Second}}

	env := func(admin int) []string {
		return []string{
			"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
			"EVERSHOP_WEBHOOK_SECRET=" + secretText,
			"SHOPSTREAM_KAFKA_BROKERS=" + strings.Join(s.brokers, ","),
			fmt.Sprintf("SHOPSTREAM_HTTP_ADDR=127.0.0.1:%d", servePort),
			fmt.Sprintf("SHOPSTREAM_ADMIN_ADDR=127.0.0.1:%d", admin),
			fmt.Sprintf("CLICKHOUSE_DSN=clickhouse://127.0.0.1:%d/default", chTCPPort),
			"INBOX_API_URL=" + s.inbox.url, "INBOX_API_TOKEN=" + token, "INBOX_TENANT=chaos",
			fmt.Sprintf("COZE_API_URL=http://127.0.0.1:%d", cozePort), "COZE_API_TOKEN=coze-" + token,
			"COZE_DATASET_ID=7400000000000000001",
			"WEBHOOK_SEND_ORDER_CONFIRMATION=true", "WEBHOOK_SEND_WELCOME_MESSAGE=true",
			"SHOPSTREAM_LOG_LEVEL=info", "SHOPSTREAM_LOG_FORMAT=json",
			// Settings issue 8 adds; unknown variables are ignored before the merge.
			"SHOPSTREAM_RETRY_MAX_AGE=24h", "SHOPSTREAM_RETRY_AFTER_MAX=" + retryAfterMax.String(),
		}
	}
	s.sup = &supervisor{bin: bin, logDir: logDir}
	s.toolEnv = env(adminPortBase + 8)
	for _, args := range [][]string{{"topics"}, {"migrate"}} {
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = s.toolEnv
		if out, err := cmd.CombinedOutput(); err != nil {
			return s, fmt.Errorf("shopstream %s: %w\n%s", args[0], err, out)
		}
	}
	s.sup.add("serve", env(adminPortBase), "serve")
	for i := range 3 {
		s.sup.add(fmt.Sprintf("process-%d", i+1), env(adminPortBase+1+i), "process")
	}
	s.sup.add("sink", env(adminPortBase+4), "sink")
	for i, p := range s.sup.procs {
		if err := s.sup.start(p); err != nil {
			return s, err
		}
		if err := waitReady(ctx, adminPortBase+i, 60*time.Second); err != nil {
			return s, fmt.Errorf("%s: %w (log %s)", p.name, err, p.logPath)
		}
	}
	logf("system up: serve :%d, 3 process, sink, inbox %s, coze :%d", servePort, s.inbox.url, cozePort)
	return s, nil
}

// retryAfterMax is the clamp the chaos run asks for (the default is 5m):
// the Retry-After 3600 scenario must drain within it plus a margin.
const retryAfterMax = 20 * time.Second

func waitReady(ctx context.Context, port int, timeout time.Duration) error {
	return waitFor(ctx, timeout, 250*time.Millisecond, func() (bool, error) {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", port))
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
}

// waitFor polls cond until it is true, fails, or the timeout passes.
func waitFor(ctx context.Context, timeout, every time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err == nil && ok {
			return nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("%w after %s: %w", errTimeout, timeout, err)
			}
			return fmt.Errorf("%w after %s", errTimeout, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(every):
		}
	}
}

func (s *system) down() {
	if s.sup != nil {
		s.sup.stopAll()
	}
	if s.cozeSrv != nil {
		_ = s.cozeSrv.Close()
	}
	if s.coze != nil {
		s.coze.Close()
	}
	if s.inbox != nil {
		_ = s.inbox.srv.Close()
	}
	if s.kcl != nil {
		s.kcl.Close()
	}
	if s.ownInfra {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		_ = s.kafka(ctx, "stop")
		_ = s.clickhouse(ctx, "stop")
	}
}

func randText(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return strings.TrimRight(base64.RawURLEncoding.EncodeToString(b), "=")
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%s] chaos: %s\n", time.Now().UTC().Format("15:04:05"), fmt.Sprintf(format, args...))
}
