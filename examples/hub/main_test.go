package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// demoLine matches one of the lines the hub prints at start.
var demoLine = regexp.MustCompile(
	`^demo (?:user=(user-\d+) token=([a-z2-7]+)|login=(http://[^ ]+/login) password=([a-z2-7]+))$`)

// started is what a run of the hub printed.
type started struct {
	tokens   map[string]string // user → token
	login    string
	password string
}

// startRun runs the hub as main does, with args, until the test ends, and
// returns what it printed before serving.
func startRun(t *testing.T, args ...string) started {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	out, stdout := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, args, stdout, io.Discard)
		stdout.CloseWithError(fmt.Errorf("run returned %v", err))
		done <- err
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(shutdownTimeout + 5*time.Second):
			t.Error("run did not return after its context was cancelled")
		}
	})

	s := started{tokens: map[string]string{}}
	lines := bufio.NewScanner(out)
	for i := 0; i < len(demoUsers)+1; i++ {
		if !lines.Scan() {
			t.Fatalf("printed %d lines, then: %v", i, lines.Err())
		}
		m := demoLine.FindStringSubmatch(lines.Text())
		switch {
		case m == nil:
			t.Fatalf("line %d = %q, want a demo line", i+1, lines.Text())
		case i < len(demoUsers) && m[1] != demoUsers[i]:
			t.Fatalf("line %d = %q, want the token of %s", i+1, lines.Text(), demoUsers[i])
		case i == len(demoUsers) && m[3] == "":
			t.Fatalf("line %d = %q, want the login line", i+1, lines.Text())
		}
		if m[1] != "" {
			s.tokens[m[1]] = m[2]
		} else {
			s.login, s.password = m[3], m[4]
		}
	}
	go io.Copy(io.Discard, out) // nothing more is expected, but never block run
	return s
}

func TestRunPrintsDemoLines(t *testing.T) {
	s := startRun(t, "-addr", "127.0.0.1:0")

	base := strings.TrimSuffix(s.login, "/login")
	for user, token := range s.tokens {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet,
			base+"/api/gateway/"+user+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("the hub does not serve at %s: %v", base, err)
		}
		resp.Body.Close()
		// The path names no deployment: 404 says the token was accepted,
		// 401 that it was not.
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s's printed token: status %d, want 404", user, resp.StatusCode)
		}
	}

	resp, err := http.Get(s.login)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s: status %d, want 200", s.login, resp.StatusCode)
	}
}

func TestDemoSeed(t *testing.T) {
	seeded1 := startRun(t, "-addr", "127.0.0.1:0", "-demo-seed", "demo")
	seeded2 := startRun(t, "-addr", "127.0.0.1:0", "-demo-seed", "demo")
	other := startRun(t, "-addr", "127.0.0.1:0", "-demo-seed", "other")
	random1 := startRun(t, "-addr", "127.0.0.1:0")
	random2 := startRun(t, "-addr", "127.0.0.1:0")

	same := func(a, b started) bool {
		return a.password == b.password && a.tokens["user-123"] == b.tokens["user-123"] &&
			a.tokens["user-456"] == b.tokens["user-456"]
	}
	if !same(seeded1, seeded2) {
		t.Errorf("the same seed gave different credentials: %+v, %+v", seeded1, seeded2)
	}
	if same(seeded1, other) || same(random1, random2) || same(random1, seeded1) {
		t.Error("different seeds, or no seed, gave the same credentials")
	}
	if seeded1.tokens["user-123"] == seeded1.tokens["user-456"] {
		t.Error("both users have the same token")
	}
}

func TestWriteDemoLines(t *testing.T) {
	var b strings.Builder
	s := newSecrets("x")
	if err := writeDemoLines(&b, "http://127.0.0.1:8080", s); err != nil {
		t.Fatal(err)
	}
	want := "demo user=user-123 token=" + s.tokens["user-123"] + "\n" +
		"demo user=user-456 token=" + s.tokens["user-456"] + "\n" +
		"demo login=http://127.0.0.1:8080/login password=" + s.password + "\n"
	if got := b.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestRunRefusesBadArguments(t *testing.T) {
	for _, args := range [][]string{{"-no-such-flag"}, {"extra"}, {"-addr", "not an address"}} {
		if err := run(t.Context(), args, io.Discard, io.Discard); err == nil {
			t.Errorf("run(%q) = nil, want an error", args)
		}
	}
}
