package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
)

// clockTick is the unit of the CPU times in /proc/PID/stat (USER_HZ,
// which Linux fixes at 100 for what it shows user space).
const clockTick = 10 * time.Millisecond

// cpuTime reads the user plus system CPU time a process has used so far
// (all its threads) from /proc/PID/stat; pid 0 means this process.
func cpuTime(pid int) (time.Duration, error) {
	path := "/proc/self/stat"
	if pid != 0 {
		path = fmt.Sprintf("/proc/%d/stat", pid)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("CPU time of process %d: %w", pid, err)
	}
	return parseStat(b)
}

// parseStat reads utime and stime, the 14th and 15th fields of a
// /proc/PID/stat line. The second field, the command in parentheses, may
// hold spaces and parentheses: the fields are counted from the last ')'.
func parseStat(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("not a /proc stat line")
	}
	f := bytes.Fields(b[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, fmt.Errorf("a /proc stat line of %d fields", len(f)+2)
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(string(s), 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("a /proc stat line with CPU time %q", s)
		}
		ticks += n
	}
	return time.Duration(ticks) * clockTick, nil
}

// cpuMeter measures the CPU time the server (if its PID is known) and the
// load tool itself use over a run.
type cpuMeter struct {
	pid             int
	server, ownTime time.Duration
}

// startCPU notes the CPU times at the start of a run. A server PID of zero
// measures the load tool only.
func startCPU(serverPID int) (*cpuMeter, error) {
	m := &cpuMeter{pid: serverPID}
	var err error
	if m.ownTime, err = cpuTime(0); err != nil {
		return nil, err
	}
	if serverPID != 0 {
		if m.server, err = cpuTime(serverPID); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// finish adds to r the CPU used since start: microseconds per request and
// cores busy over the run, for the server (if its PID is known) and the
// load tool.
func (m *cpuMeter) finish(r *report) error {
	own, err := cpuTime(0)
	if err != nil {
		return err
	}
	r.LoadCPU = cpuUse(own-m.ownTime, r)
	if m.pid != 0 {
		server, err := cpuTime(m.pid)
		if err != nil {
			return fmt.Errorf("%w (did the server exit during the run?)", err)
		}
		r.ServerCPU = cpuUse(server-m.server, r)
	}
	return nil
}

// cpuUse is CPU time d spread over r's requests and its duration.
func cpuUse(d time.Duration, r *report) *cpuFigures {
	c := &cpuFigures{CPUS: round(d.Seconds(), 2)}
	if r.Requests > 0 {
		c.USPerRequest = round(float64(d.Microseconds())/float64(r.Requests), 1)
	}
	if r.DurationS > 0 {
		c.Cores = round(d.Seconds()/r.DurationS, 2)
	}
	return c
}

// cpuFigures is one process's CPU use over a run.
type cpuFigures struct {
	CPUS         float64 `json:"cpu_s"`
	USPerRequest float64 `json:"us_per_request"`
	Cores        float64 `json:"cores"`
}
