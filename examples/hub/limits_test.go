package main

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
)

// get sends a GET with user's token to the hub that printed s.
func (s started) get(t *testing.T, user, path string) *http.Response {
	t.Helper()
	req, err := http.NewRequest("GET", strings.TrimSuffix(s.login, "/login")+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.tokens[user])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

const apiUsers = "/api/gateway/user-123/my-api-def456/api/v1/users"

func TestRateFlagsLimitABurstPerUser(t *testing.T) {
	s := startRun(t, "-addr", "127.0.0.1:0", "-user-rate", "20-S", "-deployment-rate", "30-S")

	var limited *http.Response
	for range 25 {
		if resp := s.get(t, "user-123", apiUsers); resp.StatusCode == http.StatusTooManyRequests {
			limited = resp
			break
		}
	}
	if limited == nil {
		t.Fatal("25 requests in a burst under -user-rate 20-S: none was refused")
	}
	retry, err := strconv.Atoi(limited.Header.Get("Retry-After"))
	if err != nil || retry < 1 {
		t.Fatalf("Retry-After = %q, want whole seconds", limited.Header.Get("Retry-After"))
	}
	for _, h := range []string{"RateLimit", "RateLimit-Policy", "X-RateLimit-Limit", "X-RateLimit-Remaining"} {
		if limited.Header.Get(h) == "" {
			t.Errorf("the 429 has no %s header", h)
		}
	}

	if resp := s.get(t, "user-456", "/api/gateway/user-456/private-app-777/"); resp.StatusCode != 200 {
		t.Errorf("user-456 during user-123's burst: status = %d, want 200", resp.StatusCode)
	}
	time.Sleep(time.Duration(retry) * time.Second)
	if resp := s.get(t, "user-123", apiUsers); resp.StatusCode != 200 {
		t.Errorf("after the advertised %ds: status = %d, want 200", retry, resp.StatusCode)
	}
}

// Two hubs given the same -redis-url count each user once between them.
func TestRedisURLSharesLimitsBetweenHubs(t *testing.T) {
	mr := miniredis.RunT(t)
	args := []string{"-addr", "127.0.0.1:0", "-demo-seed", "shared", "-user-rate", "6-M",
		"-redis-url", "redis://" + mr.Addr() + "/0"}
	a, b := startRun(t, args...), startRun(t, args...)

	passed := 0
	for i := range 10 {
		hub := a
		if i%2 == 1 {
			hub = b
		}
		if hub.get(t, "user-123", apiUsers).StatusCode == 200 {
			passed++
		}
	}
	if passed != 6 {
		t.Errorf("10 requests spread over two hubs under -user-rate 6-M: %d passed, want 6", passed)
	}
}

func TestRunRefusesBadRates(t *testing.T) {
	for _, args := range [][]string{
		{"-user-rate", "fast"},
		{"-deployment-rate", "10-W"},
		{"-redis-url", "http://127.0.0.1:1"},
	} {
		args = append([]string{"-addr", "127.0.0.1:0"}, args...)
		if err := run(t.Context(), args, io.Discard, io.Discard); err == nil {
			t.Errorf("run(%q) = nil, want an error", args)
		}
	}
}
