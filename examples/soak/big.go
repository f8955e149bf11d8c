package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// bigBodies sends a body of size bytes through a fresh hub to the
// upstream's /upload, fetches as many from its /download, checks both ends
// saw every byte of the pattern, and reports the hub's resident memory
// before and its peak after each transfer. It fails when the peak passes
// maxRSS.
func bigBodies(ctx context.Context, out io.Writer, bin string, up *upstream, logPath string,
	size, maxRSS int64) error {
	h, err := startHub(ctx, bin, up.url(), logPath)
	if err != nil {
		return err
	}
	defer h.stop()
	before, err := h.measure(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "big bodies: %d bytes each way through hub pid %d at %s\n",
		size, h.cmd.Process.Pid, h.base)
	fmt.Fprintf(out, "%-10s %v\n", "start", before)
	client := &http.Client{Transport: &http.Transport{Proxy: nil}}
	url := h.base + "/api/gateway/user-123/external-app-900"
	auth := "Bearer " + h.tokens["user-123"]

	began := time.Now()
	req, _ := http.NewRequestWithContext(ctx, "POST", url+"/upload", &patternReader{n: size})
	req.ContentLength = size
	req.Header.Set("Authorization", auth)
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	answered := strings.TrimSpace(string(body))
	if resp.StatusCode != http.StatusOK || answered != strconv.FormatInt(size, 10) ||
		up.received.Load() != size {
		return fmt.Errorf("upload: status %d, body %.200q, upstream received %d bytes; want 200 and %d",
			resp.StatusCode, body, up.received.Load(), size)
	}
	uploaded, err := h.measure(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%-10s %v (%s)\n", "upload", uploaded, rate(size, time.Since(began)))

	began = time.Now()
	download := url + "/download?bytes=" + strconv.FormatInt(size, 10)
	req, _ = http.NewRequestWithContext(ctx, "GET", download, nil)
	req.Header.Set("Authorization", auth)
	resp, err = client.Do(req)
	if err != nil {
		return fmt.Errorf("download: %w", err)
	}
	n, err := checkPattern(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || err != nil || n != size {
		return fmt.Errorf("download: status %d, %d bytes (%v); want 200 and %d bytes of the pattern",
			resp.StatusCode, n, err, size)
	}
	downloaded, err := h.measure(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%-10s %v (%s)\n", "download", downloaded, rate(size, time.Since(began)))

	fmt.Fprintf(out, "hub peak resident memory: %.1f MiB (limit %.0f MiB)\n",
		float64(downloaded.HWM)/(1<<20), float64(maxRSS)/(1<<20))
	errs := []error{h.stop()}
	if downloaded.HWM > maxRSS {
		errs = append(errs, fmt.Errorf("the hub's peak resident memory, %d bytes, is over %d",
			downloaded.HWM, maxRSS))
	}
	return errors.Join(errs...)
}

// rate describes a transfer of n bytes that took d.
func rate(n int64, d time.Duration) string {
	return fmt.Sprintf("%v, %.0f MiB/s", d.Round(time.Millisecond), float64(n)/(1<<20)/d.Seconds())
}
