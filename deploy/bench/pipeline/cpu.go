package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// The load shares a small machine with the broker and, possibly, other
// people's builds and tests, which the broker lock does not keep out. A
// cpuSample taken before and after the load says where the CPU went, so a
// tail latency can be read against what else was running.

const clockTicks = 100 // USER_HZ: /proc times are in 1/100 s on Linux

type cpuSample struct {
	at         time.Time
	busy, all  float64         // machine-wide CPU seconds (all cores)
	procs      map[int]float64 // CPU seconds (user+system) per pid
	loadavg1   string
	cores      int
	unreadable bool
}

func sampleCPU(pids ...int) cpuSample {
	s := cpuSample{at: time.Now(), procs: map[int]float64{}}
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		s.unreadable = true
		return s
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && strings.HasPrefix(f[0], "cpu") && f[0] != "cpu" {
			s.cores++
		}
		if len(f) < 9 || f[0] != "cpu" {
			continue
		}
		var v [8]float64
		for i := range v {
			v[i], _ = strconv.ParseFloat(f[i+1], 64)
		}
		// user nice system idle iowait irq softirq steal
		s.busy = (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / clockTicks
		s.all = s.busy + (v[3]+v[4])/clockTicks
	}
	for _, pid := range pids {
		if pid > 0 {
			if t, ok := procCPU(pid); ok {
				s.procs[pid] = t
			}
		}
	}
	if la, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(la)); len(f) > 0 {
			s.loadavg1 = f[0]
		}
	}
	return s
}

// procCPU is the user+system CPU seconds of pid (its threads included).
func procCPU(pid int) (float64, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	rest := string(b)
	if i := strings.LastIndexByte(rest, ')'); i >= 0 {
		rest = rest[i+1:]
	}
	f := strings.Fields(rest) // f[0] is field 3 (state); utime and stime are fields 14 and 15
	if len(f) < 13 {
		return 0, false
	}
	u, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return (u + st) / clockTicks, true
}

// cpuUse is what happened between two samples.
type cpuUse struct {
	wall      time.Duration
	cores     int
	machine   float64         // CPU seconds used machine-wide
	procs     map[int]float64 // CPU seconds per pid
	loadavg   [2]string
	available bool
}

func cpuBetween(a, b cpuSample) cpuUse {
	u := cpuUse{wall: b.at.Sub(a.at), cores: b.cores, machine: b.busy - a.busy, procs: map[int]float64{},
		loadavg: [2]string{a.loadavg1, b.loadavg1}, available: !a.unreadable && !b.unreadable}
	for pid, t := range b.procs {
		if t0, ok := a.procs[pid]; ok {
			u.procs[pid] = t - t0
		}
	}
	return u
}

// share is CPU seconds as a percentage of one core over the interval.
func (u cpuUse) share(sec float64) string {
	if u.wall <= 0 {
		return "?"
	}
	return fmt.Sprintf("%.0f%%", 100*sec/u.wall.Seconds())
}
