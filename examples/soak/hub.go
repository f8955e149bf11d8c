package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// hubProcess is a hub started by this program.
type hubProcess struct {
	cmd    *exec.Cmd
	base   string            // http://HOST:PORT
	tokens map[string]string // user → token
	exited chan error

	stopOnce sync.Once
	stopErr  error
}

var (
	tokenLine = regexp.MustCompile(`^demo user=(user-\d+) token=(\S+)$`)
	loginLine = regexp.MustCompile(`^demo login=(http://\S+)/login password=\S+$`)
)

// startHub runs the hub binary on a free loopback port with args, its
// extra deployment at extra, and its log written to logPath, and waits
// until it serves.
func startHub(ctx context.Context, bin, extra, logPath string, args ...string) (
	*hubProcess, error,
) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child has its own copy
	args = append([]string{"-addr", "127.0.0.1:0", "-demo-seed", "soak"}, args...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "HUB_EXTRA_UPSTREAM="+extra)
	cmd.Stderr = logFile
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	h := &hubProcess{cmd: cmd, tokens: map[string]string{}, exited: make(chan error, 1)}
	go func() { h.exited <- cmd.Wait() }()

	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	timeout := time.After(30 * time.Second)
	for h.base == "" || len(h.tokens) < 2 {
		select {
		case line, ok := <-lines:
			if !ok {
				h.stop()
				return nil, fmt.Errorf("hub exited before printing its credentials; see %s", logPath)
			}
			if m := tokenLine.FindStringSubmatch(line); m != nil {
				h.tokens[m[1]] = m[2]
			} else if m := loginLine.FindStringSubmatch(line); m != nil {
				h.base = m[1]
			}
		case <-timeout:
			h.stop()
			return nil, errors.New("hub printed no credentials within 30s")
		case <-ctx.Done():
			h.stop()
			return nil, ctx.Err()
		}
	}
	go func() {
		for range lines { // the hub prints nothing more; drained all the same
		}
	}()
	return h, nil
}

// stop asks the hub to shut down and waits for it, killing it after 10s.
// Later calls return what the first one did.
func (h *hubProcess) stop() error {
	h.stopOnce.Do(func() {
		h.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case h.stopErr = <-h.exited:
		case <-time.After(10 * time.Second):
			h.cmd.Process.Kill()
			h.stopErr = errors.Join(errors.New("hub did not stop within 10s; killed"), <-h.exited)
		}
	})
	return h.stopErr
}

// figures are the hub process's resource use at one moment.
type figures struct {
	RSS, HWM   int64 // bytes: resident now, and its peak so far
	Goroutines int   // -1 when /metrics did not say
	FDs        int
}

func (f figures) String() string {
	return fmt.Sprintf("rss=%.1fMiB peak=%.1fMiB goroutines=%d fds=%d",
		float64(f.RSS)/(1<<20), float64(f.HWM)/(1<<20), f.Goroutines, f.FDs)
}

// measure reads the hub's memory and open descriptors from /proc and its
// goroutine count from /metrics.
func (h *hubProcess) measure(ctx context.Context) (figures, error) {
	pid := h.cmd.Process.Pid
	f := figures{Goroutines: -1}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return f, err
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		name, value, _ := strings.Cut(line, ":")
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		switch name {
		case "VmRSS":
			f.RSS = kb << 10
		case "VmHWM":
			f.HWM = kb << 10
		}
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return f, err
	}
	f.FDs = len(fds)

	req, _ := http.NewRequestWithContext(ctx, "GET", h.base+"/metrics", nil)
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return f, err
	}
	defer resp.Body.Close()
	// Closing the connection after use keeps it out of the descriptor
	// count of the next measurement.
	defer client.CloseIdleConnections()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			f.Goroutines, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return f, sc.Err()
}
