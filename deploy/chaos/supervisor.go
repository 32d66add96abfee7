package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is one shopstream child process the supervisor owns: the same
// command line and environment every time it is (re)started.
type proc struct {
	name string
	args []string
	env  []string

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{}
	peakKB  int64 // max VmHWM over every incarnation
	starts  int
	logPath string
}

// supervisor starts, kills and restarts the system's processes and keeps
// their peak resident memory. It never touches a process it did not start.
type supervisor struct {
	bin    string
	logDir string
	procs  []*proc
}

func (s *supervisor) add(name string, env []string, args ...string) *proc {
	p := &proc{name: name, args: args, env: env, logPath: filepath.Join(s.logDir, name+".log")}
	s.procs = append(s.procs, p)
	return p
}

func (s *supervisor) get(name string) *proc {
	for _, p := range s.procs {
		if p.name == name {
			return p
		}
	}
	panic("no process " + name)
}

// start launches p; its output is appended to its log file.
func (s *supervisor) start(p *proc) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return fmt.Errorf("%s: already running", p.name)
	}
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("%s: log: %w", p.name, err)
	}
	cmd := exec.Command(s.bin, p.args...)
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = logf.Close() // the start error is the one to report
		return fmt.Errorf("%s: start: %w", p.name, err)
	}
	p.cmd, p.done = cmd, make(chan struct{})
	p.starts++
	done := p.done
	go func() {
		_ = cmd.Wait()
		_ = logf.Close() // a process log for a human; nothing to retry
		close(done)
	}()
	go p.sampleRSS(cmd.Process.Pid, done)
	return nil
}

// sampleRSS reads VmHWM (the kernel's own high-water mark of resident
// memory) every 500 ms while the process lives; the last read before exit
// is the peak of that incarnation.
func (p *proc) sampleRSS(pid int, done <-chan struct{}) {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		if kb, _ := memKB(pid); kb > 0 {
			p.mu.Lock()
			p.peakKB = max(p.peakKB, kb)
			p.mu.Unlock()
		}
		select {
		case <-done:
			return
		case <-t.C:
		}
	}
}

// memKB reads a process's peak (VmHWM) and current (VmRSS) resident
// memory in kB from /proc/<pid>/status; zeros when it is gone.
func memKB(pid int) (hwm, rss int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok || (name != "VmHWM" && name != "VmRSS") {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
		if name == "VmHWM" {
			hwm = n
		} else {
			rss = n
		}
	}
	return hwm, rss
}

// mem returns p's peak resident memory over every incarnation since the
// last resetPeaks and its current one, in MB (current 0: not running).
func (p *proc) mem() (peakMB, rssMB float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	peak := p.peakKB
	var rss int64
	if p.cmd != nil {
		var hwm int64
		hwm, rss = memKB(p.cmd.Process.Pid)
		peak = max(peak, hwm)
	}
	return float64(peak) / 1024, float64(rss) / 1024
}

// kill9 sends SIGKILL to p's pid (only that pid) and waits for it to be reaped.
func (s *supervisor) kill9(p *proc) error {
	return s.signal(p, syscall.SIGKILL, 10*time.Second)
}

// stop sends SIGTERM and waits for the drain, SIGKILL after the timeout.
func (s *supervisor) stop(p *proc, timeout time.Duration) error {
	if err := s.signal(p, syscall.SIGTERM, timeout); err != nil {
		return s.signal(p, syscall.SIGKILL, 10*time.Second)
	}
	return nil
}

func (s *supervisor) signal(p *proc, sig syscall.Signal, timeout time.Duration) error {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(timeout):
		return fmt.Errorf("%s: still running %s after %v", p.name, timeout, sig)
	}
	p.mu.Lock()
	p.cmd = nil
	p.mu.Unlock()
	return nil
}

// exited reports whether p died on its own (a crash the scenario did not ask for).
func (p *proc) exited() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// restart kills p with SIGKILL and starts it again after pause.
func (s *supervisor) restart(ctx context.Context, p *proc, pause time.Duration) error {
	if err := s.kill9(p); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(pause):
	}
	return s.start(p)
}

// peakMB is the largest VmHWM of any process so far, and resetPeaks starts
// a new measurement (a scenario's own peak).
func (s *supervisor) peakMB() float64 {
	var peak int64
	for _, p := range s.procs {
		p.mu.Lock()
		peak = max(peak, p.peakKB)
		p.mu.Unlock()
	}
	return float64(peak) / 1024
}

func (s *supervisor) resetPeaks() {
	for _, p := range s.procs {
		p.mu.Lock()
		p.peakKB = 0
		if p.cmd != nil {
			// "5" resets the kernel's peak RSS (VmHWM) to the current RSS.
			_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", p.cmd.Process.Pid), []byte("5"), 0)
		}
		p.mu.Unlock()
	}
}

// crashed names processes that exited without being asked to.
func (s *supervisor) crashed() []string {
	var out []string
	for _, p := range s.procs {
		if p.exited() {
			out = append(out, p.name)
		}
	}
	return out
}

// stopAll drains every process (SIGTERM), in reverse start order.
func (s *supervisor) stopAll() {
	for i := len(s.procs) - 1; i >= 0; i-- {
		_ = s.stop(s.procs[i], 20*time.Second)
	}
}
