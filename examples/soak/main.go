// Command soak runs the hub (examples/hub) as its own process, sends it a
// bounded, mixed load, and reports the hub's resource use, so that leaks
// show as growth between the start and the end of a run.
//
//	go build -o /tmp/hub ./examples/hub
//	go run ./examples/soak -hub /tmp/hub -duration 3m
//
// scripts/soak.sh does both. The load, all on loopback, mixes requests to
// the demo deployments (their answers checked against the user, the
// deployment and a nonce of each request), event streams read to the end
// or dropped, WebSocket echoes, MCP sessions, requests given up part way
// (uploads, downloads, streams), refused requests (401, 404, 429, 502,
// 503), and restarts of a deployment served by this program
// (HUB_EXTRA_UPSTREAM). After the load stops, the run waits -settle for
// idle connections to expire, then measures again.
//
// The hub's resident memory and its peak, its goroutines (go_goroutines
// from /metrics) and its open file descriptors (/proc/PID/fd) are printed
// at the start, every 30s, at the end of the load and after settling. The
// run fails (exit status 1) on a wrong response (one meant for another
// user, deployment or request), on an answer no case allows, or when
// goroutines or descriptors have not returned near where they started
// (unless -growth=false, for runs too short to settle).
//
// With -big BYTES the program instead sends a body of BYTES through a
// fresh hub to a deployment of its own, downloads one as large, and fails
// when the hub's peak resident memory passes -max-rss.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

// Bounds on the growth a soak run accepts once the load has stopped and
// idle connections have expired: a few goroutines and descriptors come and
// go with timers and the measurement itself.
const (
	goroutineSlack = 25
	fdSlack        = 10
)

func run(ctx context.Context, args []string, out io.Writer) error {
	flags := flag.NewFlagSet("soak", flag.ContinueOnError)
	hubBin := flags.String("hub", "", "the hub binary to run (`PATH`, required)")
	duration := flags.Duration("duration", 3*time.Minute, "how long to send the load")
	settle := flags.Duration("settle", 100*time.Second,
		"how long to wait after the load for idle connections (90s upstream) to close")
	growth := flags.Bool("growth", true,
		"fail when goroutines or descriptors have not come back after -settle (which must then pass 90s)")
	big := flags.Int64("big", 0,
		"instead of the soak, send and fetch a body of `BYTES` through the hub")
	maxRSS := flags.Int64("max-rss", 64<<20, "with -big, the most `BYTES` the hub may hold resident")
	logDir := flags.String("log-dir", "",
		"where the hub's log goes (`DIR`; default a temporary one, removed)")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *hubBin == "" {
		return errors.New("-hub is required")
	}
	dir := *logDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "soak")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}

	up, err := newUpstream()
	if err != nil {
		return err
	}
	defer up.stop()
	if *big > 0 {
		return bigBodies(ctx, out, *hubBin, up, filepath.Join(dir, "hub-big.log"), *big, *maxRSS)
	}
	return soak(ctx, out, *hubBin, up, filepath.Join(dir, "hub.log"), *duration, *settle, *growth)
}

func soak(ctx context.Context, out io.Writer, bin string, up *upstream, logPath string,
	duration, settle time.Duration, growth bool) error {
	// Rates the paced load stays under, except user-456's hammering of
	// their one deployment, which meets the per-deployment rate every
	// second, however short the run.
	h, err := startHub(ctx, bin, up.url(), logPath,
		"-user-rate", "2000-S", "-deployment-rate", "200-S")
	if err != nil {
		return err
	}
	defer h.stop()
	fmt.Fprintf(out, "soak: %v of load on hub pid %d at %s, then %v to settle\n",
		duration, h.cmd.Process.Pid, h.base, settle)
	start, err := h.measure(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%-10s %v\n", "start", start)

	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.Proxy = nil // loopback only, whatever the environment says
	transport.MaxIdleConnsPerHost = 64
	tr := &traffic{base: h.base, tokens: h.tokens, client: &http.Client{Transport: transport},
		tally: newTally(), upstream: up}
	loadCtx, cancel := context.WithTimeout(ctx, duration)
	defer cancel()
	done := make(chan struct{})
	go func() {
		tr.run(loadCtx)
		close(done)
	}()
	began := time.Now()
	tick := time.NewTicker(30 * time.Second)
	defer tick.Stop()
sampling:
	for {
		select {
		case <-done:
			break sampling
		case <-tick.C:
			f, err := h.measure(ctx)
			if err != nil {
				tr.tally.unexpectedf("measuring: %v", err)
				continue
			}
			fmt.Fprintf(out, "%-10v %v\n", time.Since(began).Round(time.Second), f)
		}
	}
	transport.CloseIdleConnections()
	loaded, err := h.measure(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%-10s %v\n", "load end", loaded)

	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(settle):
	}
	settled, err := h.measure(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%-10s %v\n", "settled", settled)
	fmt.Fprintf(out, "external deployment restarts: %d\n", tr.restarts.Load())
	tr.tally.report(out)

	var errs []error
	if tr.tally.wrong > 0 {
		errs = append(errs, fmt.Errorf("%d wrong responses", tr.tally.wrong))
	}
	if tr.tally.unexpected > 0 {
		errs = append(errs, fmt.Errorf("%d unexpected answers", tr.tally.unexpected))
	}
	if tr.tally.count("hammer 429") == 0 {
		errs = append(errs, errors.New("no request was answered 429"))
	}
	if growth && settled.Goroutines > start.Goroutines+goroutineSlack {
		errs = append(errs, fmt.Errorf("goroutines went from %d to %d",
			start.Goroutines, settled.Goroutines))
	}
	if growth && settled.FDs > start.FDs+fdSlack {
		errs = append(errs, fmt.Errorf("open descriptors went from %d to %d", start.FDs, settled.FDs))
	}
	if err := h.stop(); err != nil {
		errs = append(errs, fmt.Errorf("hub: %w", err))
	}
	return errors.Join(errs...)
}
