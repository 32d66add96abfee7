package kafkatest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/shopstream/internal/clock"
)

// BrokerScript is the script that owns the local broker, relative to the
// repository root.
const BrokerScript = "deploy/local/kafka.sh"

// Bounds of the broker lifecycle. The script has its own (30 s stop, 90 s
// start); these only make sure a stuck script fails the test instead of
// hanging it.
const (
	scriptTimeout = 150 * time.Second
	downTimeout   = 30 * time.Second
	readyTimeout  = 60 * time.Second
)

// BrokerLock is the lock every user of the shared local broker takes for a
// run that must not be disturbed (deploy/bench/pipeline.sh, the
// cmd/shopstream integration harness: flock /tmp/shopstream-it.lock ...).
// StopBroker holds it from the stop until the broker is ready again, so an
// outage test never pulls the broker from under such a run.
const BrokerLock = "/tmp/shopstream-it.lock"

// lockWait bounds the wait for BrokerLock.
const lockWait = 5 * time.Minute

var (
	brokerMu      sync.Mutex
	brokerStopped bool
	brokerLock    *os.File // held while the broker is down, nil otherwise
)

// StopBroker stops the local broker (deploy/local/kafka.sh stop, data kept)
// and returns once its port refuses connections. Whatever the test's
// outcome, the broker is started again when the test ends; call
// StartBroker to bring it back earlier.
//
// Every test and process using the broker sees the outage: never call it
// from a parallel test. It skips when SHOPSTREAM_TEST_KAFKA is not the
// broker the script runs (loopback, port KAFKA_PORT or 9092).
func StopBroker(t testing.TB) {
	t.Helper()
	addr := localBroker(t)
	t.Cleanup(func() {
		brokerMu.Lock()
		stopped := brokerStopped
		brokerMu.Unlock()
		if stopped {
			t.Log("restarting the broker stopped by this test")
			if err := startBroker(t, addr); err != nil {
				t.Errorf("restart the broker after the test: %v", err)
			}
		}
	})
	lock, err := lockBroker(t)
	if err != nil {
		t.Fatal(err)
	}
	brokerMu.Lock()
	brokerLock = lock
	brokerStopped = true // before the script: a half-done stop is still restarted
	brokerMu.Unlock()
	start := time.Now()
	if err := runScript(t, "stop"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(downTimeout)
	for portOpen(addr) {
		if time.Now().After(deadline) {
			t.Fatalf("%s still accepts connections %s after %s stop", addr, downTimeout, BrokerScript)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("broker %s stopped in %s", addr, time.Since(start).Round(time.Millisecond))
}

// BrokerUp reports whether the local broker accepts connections. An outage
// test checks it to tell a real finding from someone else (make infra-up,
// deploy/e2e/run.sh) starting the broker again in the middle of the test.
func BrokerUp(t testing.TB) bool {
	t.Helper()
	return portOpen(localBroker(t))
}

// StartBroker starts the local broker (deploy/local/kafka.sh start) and
// returns once it serves metadata and every partition has a leader again.
func StartBroker(t testing.TB) {
	t.Helper()
	if err := startBroker(t, localBroker(t)); err != nil {
		t.Fatal(err)
	}
}

func startBroker(t testing.TB, addr string) error {
	start := time.Now()
	if err := runScript(t, "start"); err != nil {
		return err
	}
	if err := waitReady(addr, readyTimeout); err != nil {
		return err
	}
	brokerMu.Lock()
	brokerStopped = false
	if brokerLock != nil {
		_ = brokerLock.Close() // releases the flock
		brokerLock = nil
	}
	brokerMu.Unlock()
	t.Logf("broker %s ready in %s", addr, time.Since(start).Round(time.Millisecond))
	return nil
}

// waitReady polls until a fresh client gets metadata in which every
// partition of every topic has a leader: the script checks the same with
// kcat, this makes sure a Go client agrees.
func waitReady(addr string, timeout time.Duration) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ClientID("shopstream-kafkatest-ready"))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	err = clock.Poll(context.Background(), 100*time.Millisecond, timeout, func(ctx context.Context) error {
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		details, err := adm.ListTopics(lctx)
		if err != nil {
			return err
		}
		return leadersReady(ctx, adm, details.Names())
	})
	if err != nil {
		return fmt.Errorf("broker %s not ready %s after %s start: %w", addr, timeout, BrokerScript, err)
	}
	return nil
}

// localBroker returns SHOPSTREAM_TEST_KAFKA when it is the broker the
// script controls, and skips the test otherwise.
func localBroker(t testing.TB) string {
	t.Helper()
	brokers := brokersFromEnv()
	if len(brokers) == 0 {
		t.Skipf("%s is not set: stopping and starting the broker needs the local one (deploy/local/kafka.sh)", EnvBrokers)
	}
	port := os.Getenv("KAFKA_PORT")
	if port == "" {
		port = "9092"
	}
	host, p, err := net.SplitHostPort(brokers[0])
	ip := net.ParseIP(host)
	if err != nil || len(brokers) != 1 || p != port || (host != "localhost" && (ip == nil || !ip.IsLoopback())) {
		t.Skipf("%s=%s is not the local broker of %s (loopback port %s): cannot stop and start it", EnvBrokers, os.Getenv(EnvBrokers), BrokerScript, port)
	}
	return brokers[0]
}

func runScript(t testing.TB, verb string) error {
	root, err := RepoRoot()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), scriptTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(root, BrokerScript), verb)
	cmd.Dir = root
	// The broker detaches (setsid) and keeps no inherited descriptor, so
	// CombinedOutput returns when the script does.
	out, err := cmd.CombinedOutput()
	if text := strings.TrimSpace(string(out)); text != "" {
		t.Logf("%s %s:\n%s", BrokerScript, verb, text)
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", BrokerScript, verb, err)
	}
	return nil
}

// RepoRoot is the nearest directory above the working directory (a test
// runs in its package's directory) that holds deploy/local/kafka.sh.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, BrokerScript)); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no " + BrokerScript + " above the working directory")
		}
		dir = parent
	}
}

func portOpen(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}

// lockBroker takes BrokerLock, waiting up to lockWait for a run that holds
// it. When an ancestor process already holds it (the test binary was started
// under flock /tmp/shopstream-it.lock go test ...), the broker is this run's
// to stop: waiting would be a deadlock, so it returns nil.
func lockBroker(t testing.TB) (*os.File, error) {
	f, err := os.OpenFile(BrokerLock, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", BrokerLock, err)
	}
	if heldByAncestor(f) {
		_ = f.Close()
		t.Logf("%s is held by a parent process of this test: stopping the broker under it", BrokerLock)
		return nil, nil
	}
	start := time.Now()
	deadline := start.Add(lockWait)
	logged := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			if logged {
				t.Logf("got %s after %s", BrokerLock, time.Since(start).Round(time.Second))
			}
			return f, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			_ = f.Close()
			return nil, fmt.Errorf("lock %s: %w", BrokerLock, err)
		}
		if time.Now().After(deadline) {
			_ = f.Close()
			return nil, fmt.Errorf("%s still held by another run of the shared broker after %s; not stopping the broker under it", BrokerLock, lockWait)
		}
		if !logged {
			t.Logf("waiting for %s: another run is using the shared broker", BrokerLock)
			logged = true
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// heldByAncestor reports whether /proc/locks shows a flock on f's file held
// by one of this process's ancestors.
func heldByAncestor(f *os.File) bool {
	st, err := f.Stat()
	if err != nil {
		return false
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return false
	}
	locks, err := os.ReadFile("/proc/locks")
	if err != nil {
		return false
	}
	holders := map[int]bool{}
	for _, line := range strings.Split(string(locks), "\n") {
		// "3: FLOCK  ADVISORY  WRITE 10918 00:2c:1234 0 EOF"; waiters
		// have "->" after the number and hold nothing.
		fields := strings.Fields(line)
		if len(fields) < 6 || fields[1] != "FLOCK" {
			continue
		}
		id := strings.Split(fields[5], ":")
		if len(id) != 3 || id[2] != strconv.FormatUint(sys.Ino, 10) {
			continue
		}
		if pid, err := strconv.Atoi(fields[4]); err == nil {
			holders[pid] = true
		}
	}
	for pid := os.Getppid(); pid > 1; pid = parentOf(pid) {
		if holders[pid] {
			return true
		}
	}
	return false
}

// parentOf reads the parent pid from /proc/<pid>/stat, 0 when unknown.
func parentOf(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// "pid (comm) state ppid ...": comm may hold spaces and parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	fields := strings.Fields(s[i+1:])
	if len(fields) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(fields[1])
	return ppid
}
