package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/shopstream/shopstream/connectors/coze/cozetest"
	"github.com/shopstream/shopstream/connectors/inbox/inboxtest"
	"github.com/shopstream/shopstream/pipeline"
)

const (
	inboxToken    = "bench-inbox-token"
	cozeToken     = "bench-coze-token"
	cozeDatasetID = "7400000000000000001"
)

// stack is everything a run talks to: the two fakes behind timestamping
// front ends, and the serve and process subprocesses.
type stack struct {
	secret pipeline.Secret
	grace  time.Duration // how long a subprocess may take to stop on SIGTERM

	inbox    *inboxtest.Server
	inboxRec *inboxRecorder
	coze     *cozetest.Server
	cozeRec  *cozeRecorder
	fronts   []*http.Server

	ingressURL, ingressAdmin, processAdmin string
	inboxURL, cozeURL                      string

	procs []*proc
}

// proc is one shopstream subprocess, in its own process group so that a
// ctrl-c at the terminal reaches only the benchmark, which then stops it.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error // set before done is closed
	// stopping is set once the benchmark asked it to stop: an exit before
	// that is reported.
	mu       sync.Mutex
	stopping bool
}

// newFakes starts the inbox and Coze fakes behind their recorders and
// returns the stack (no subprocess yet) and the environment every shopstream
// subprocess gets; with o.reset it also runs `shopstream topics`.
func newFakes(ctx context.Context, o options) (*stack, map[string]string, error) {
	st := &stack{grace: o.stopGrace}
	raw := make([]byte, 24)
	_, _ = rand.Read(raw)
	secretText := "bench-" + hex.EncodeToString(raw)
	secrets, err := pipeline.ParseSecrets(secretText)
	if err != nil {
		return st, nil, err
	}
	st.secret = secrets[0]

	// The fakes start their own httptest listeners; the benchmark serves
	// their handlers from its own listeners instead, wrapped in recorders
	// that timestamp what the fake accepted, with no proxy hop in between.
	st.inbox = inboxtest.NewServer(inboxToken)
	st.inboxRec = &inboxRecorder{stored: map[string]time.Time{}}
	if st.inboxURL, err = st.front(st.inboxRec.wrap(st.inbox.Config.Handler)); err != nil {
		return st, nil, err
	}
	st.coze = cozetest.NewServer(cozeToken, cozeDatasetID)
	st.cozeRec = &cozeRecorder{fake: st.coze}
	if st.cozeURL, err = st.front(st.cozeRec.wrap(st.coze.Config.Handler)); err != nil {
		return st, nil, err
	}

	env := map[string]string{
		"SHOPSTREAM_KAFKA_BROKERS":    strings.Join(o.brokers, ","),
		"EVERSHOP_WEBHOOK_SECRET":     secretText,
		"SHOPSTREAM_LOG_LEVEL":        o.logLevel,
		"INBOX_API_URL":               st.inboxURL,
		"INBOX_API_TOKEN":             inboxToken,
		"COZE_API_URL":                st.cozeURL,
		"COZE_API_TOKEN":              cozeToken,
		"COZE_DATASET_ID":             cozeDatasetID,
		"SHOPSTREAM_CATALOG_QUIET":    o.quiet.String(),
		"SHOPSTREAM_CATALOG_MAX_WAIT": o.maxWait.String(),
	}
	if o.reset {
		out, err := runTool(ctx, o.bin, environ(env), "topics")
		if err != nil {
			return st, nil, fmt.Errorf("shopstream topics: %w\n%s", err, out)
		}
	}

	return st, env, nil
}

func startStack(ctx context.Context, o options) (*stack, error) {
	st, env, err := newFakes(ctx, o)
	if err != nil {
		return st, err
	}
	ports, err := freePorts(3)
	if err != nil {
		return st, err
	}
	httpAddr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	serveAdmin := fmt.Sprintf("127.0.0.1:%d", ports[1])
	procAdmin := fmt.Sprintf("127.0.0.1:%d", ports[2])
	st.ingressURL, st.ingressAdmin, st.processAdmin = "http://"+httpAddr, "http://"+serveAdmin, "http://"+procAdmin

	env["SHOPSTREAM_HTTP_ADDR"] = httpAddr
	serveEnv := environ(env, "SHOPSTREAM_ADMIN_ADDR", serveAdmin)
	procEnv := environ(env, "SHOPSTREAM_ADMIN_ADDR", procAdmin)
	for _, p := range []struct {
		name string
		env  []string
	}{{"serve", serveEnv}, {"process", procEnv}} {
		pr, err := st.spawn(o.bin, p.name, p.env, filepath.Join(o.logDir, p.name+".log"))
		if err != nil {
			return st, err
		}
		st.procs = append(st.procs, pr)
	}
	wctx, cancel := context.WithTimeout(ctx, o.startup)
	defer cancel()
	for i, admin := range []string{st.ingressAdmin, st.processAdmin} {
		if err := waitReady(wctx, admin+"/readyz", st.procs[i]); err != nil {
			return st, err
		}
	}
	return st, nil
}

// front serves h on a fresh loopback port and returns its base URL.
func (st *stack) front(h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	st.fronts = append(st.fronts, srv)
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), nil
}

func (st *stack) spawn(bin, sub string, env []string, logPath string) (*proc, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, sub)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = f, f
	// Own process group (ctrl-c is the benchmark's to handle), and SIGKILL
	// from the kernel should the benchmark die without stopping it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = f.Close() // the start error is the one to report
		return nil, fmt.Errorf("start %s %s: %w", bin, sub, err)
	}
	p := &proc{name: sub, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = f.Close() // a log file; the process's exit status is what matters
		close(p.done)
	}()
	return p, nil
}

// stop ends every subprocess (SIGTERM to its group, SIGKILL after a grace
// period), then closes the fronts and fakes. Safe to call on a partial stack.
// It runs on the way out, when ctx may be cancelled already: the fronts get
// their own shutdown deadline on an uncancelled copy of it.
func (st *stack) stop(ctx context.Context) {
	for i := len(st.procs) - 1; i >= 0; i-- {
		st.procs[i].stop(st.grace)
	}
	for _, f := range st.fronts {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		_ = f.Shutdown(sctx)
		cancel()
		_ = f.Close()
	}
	if st.inbox != nil {
		st.inbox.Close()
	}
	if st.coze != nil {
		st.coze.Close()
	}
}

func (p *proc) stop(grace time.Duration) {
	p.mu.Lock()
	p.stopping = true
	p.mu.Unlock()
	select {
	case <-p.done:
		return
	default:
	}
	pgid := p.cmd.Process.Pid
	start := time.Now()
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
		logf("%s stopped in %s", p.name, time.Since(start).Round(time.Millisecond))
	case <-time.After(grace):
		// SIGQUIT makes a Go program dump its goroutines (into the log)
		// and exit: the dump says where the shutdown hung.
		logf("%s did not stop within %s of SIGTERM: SIGQUIT (goroutine dump in %s)", p.name, grace, p.log)
		_ = syscall.Kill(-pgid, syscall.SIGQUIT)
		select {
		case <-p.done:
		case <-time.After(3 * time.Second):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-p.done
		}
	}
}

// exited reports an exit the benchmark did not ask for.
func (p *proc) exited() error {
	select {
	case <-p.done:
	default:
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopping {
		return nil
	}
	return fmt.Errorf("%s exited: %v; last log lines:\n%s", p.name, p.err, tail(p.log, 20))
}

func (st *stack) exitedEarly() []string {
	var out []string
	for _, p := range st.procs {
		if err := p.exited(); err != nil {
			out = append(out, err.Error())
		}
	}
	return out
}

// alive fails as soon as a subprocess died.
func (st *stack) alive() error {
	for _, p := range st.procs {
		if err := p.exited(); err != nil {
			return err
		}
	}
	return nil
}

func waitReady(ctx context.Context, url string, p *proc) error {
	c := &http.Client{Timeout: 2 * time.Second}
	var last string
	for {
		if err := p.exited(); err != nil {
			return err
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := c.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, bytes.TrimSpace(body))
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready (%s): %w; last log lines:\n%s", p.name, last, context.Cause(ctx), tail(p.log, 20))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func runTool(ctx context.Context, bin string, env []string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// environ is the benchmark's environment without any shopstream setting
// inherited from the caller (a stray CLICKHOUSE_DSN or catalog setting would
// change what is measured), plus vars and the extra key/value pairs.
func environ(vars map[string]string, extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "SHOPSTREAM_") || strings.HasPrefix(k, "EVERSHOP_") || strings.HasPrefix(k, "COZE_") ||
			strings.HasPrefix(k, "INBOX_") || strings.HasPrefix(k, "WEBHOOK_") || strings.HasPrefix(k, "CLICKHOUSE_") {
			continue
		}
		env = append(env, kv)
	}
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	for i := 0; i+1 < len(extra); i += 2 {
		env = append(env, extra[i]+"="+extra[i+1])
	}
	return env
}

func freePorts(n int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			_ = l.Close() // only held to pick distinct ports
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func tail(path string, lines int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// inboxRecorder timestamps each message the inbox fake stored, by
// Idempotency-Key (the event id), at the moment the fake answers 2xx.
type inboxRecorder struct {
	mu       sync.Mutex
	stored   map[string]time.Time
	repeats  int // 2xx answers for a key already stored (an idempotent repeat)
	failures int // non-2xx answers to message posts
}

func (r *inboxRecorder) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost || !strings.HasPrefix(req.URL.Path, "/api/conversations/") ||
			!strings.HasSuffix(req.URL.Path, "/messages") {
			h.ServeHTTP(w, req)
			return
		}
		key := req.Header.Get("Idempotency-Key")
		h.ServeHTTP(&statusWriter{ResponseWriter: w, onStatus: func(code int) {
			now := time.Now()
			r.mu.Lock()
			defer r.mu.Unlock()
			switch {
			case code/100 != 2:
				r.failures++
			case !r.stored[key].IsZero():
				r.repeats++
			default:
				r.stored[key] = now
			}
		}}, req)
	})
}

func (r *inboxRecorder) storedAt(key string) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.stored[key]
	return t, ok
}

// cozeRecorder timestamps every request the Coze fake answered and every
// document it stored (document/create that raised the fake's upload count).
type cozeRecorder struct {
	fake    *cozetest.Server
	mu      sync.Mutex
	last    time.Time
	uploads []time.Time
}

func (r *cozeRecorder) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		before := r.fake.Uploads()
		h.ServeHTTP(w, req)
		now := time.Now()
		r.mu.Lock()
		defer r.mu.Unlock()
		r.last = now
		if strings.HasSuffix(req.URL.Path, "/document/create") && r.fake.Uploads() > before {
			r.uploads = append(r.uploads, now)
		}
	})
}

func (r *cozeRecorder) snapshot() (last time.Time, uploads []time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last, append([]time.Time(nil), r.uploads...)
}

type statusWriter struct {
	http.ResponseWriter
	onStatus func(int)
	wrote    bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.wrote = true
		w.onStatus(code)
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// pids are the benchmark's, serve's, process's and the broker's (when
// known), in that order; 0 for one that is not running.
func (st *stack) pids(broker int) []int {
	out := []int{os.Getpid(), 0, 0, broker}
	for i, p := range st.procs {
		if i < 2 && p.cmd.Process != nil {
			out[i+1] = p.cmd.Process.Pid
		}
	}
	return out
}
