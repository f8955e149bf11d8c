package main

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// sendRaw writes raw to the server at addr, exactly as given, and returns
// the response with its body read.
func sendRaw(t *testing.T, addr, raw string) (*http.Response, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

func (th *testHub) addr() string { return strings.TrimPrefix(th.url, "http://") }

// rawGet is a GET of path with the given header lines, sent byte for byte.
func rawGet(path string, headers ...string) string {
	return "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n" +
		strings.Join(append(headers, "Connection: close"), "\r\n") + "\r\n\r\n"
}

// Headers past the server's MaxHeaderBytes are refused by net/http itself
// with 431, before any handler runs; headers just under it reach the
// gateway, which refuses the oversized credentials in them with 401.
func TestOversizedHeadersAre431(t *testing.T) {
	th := startHub(t)
	const path = "/api/gateway/user-123/my-api-def456/api/v1/users"
	big := strings.Repeat("a", 80<<10)
	many := make([]string, 0, 1000)
	for i := range cap(many) {
		many = append(many, "X-Filler-"+strings.Repeat("x", i%50)+": "+strings.Repeat("v", 80))
	}
	for name, headers := range map[string][]string{
		"one long header":          {"X-Big: " + big},
		"a huge bearer token":      {"Authorization: Bearer " + big},
		"a huge session cookie":    {"Cookie: " + sessionCookie + "=" + big},
		"many headers":             many,
		"many Cookie header lines": slicesRepeat("Cookie: a="+strings.Repeat("c", 1000), 100),
	} {
		t.Run(name, func(t *testing.T) {
			resp, _ := sendRaw(t, th.addr(), rawGet(path, headers...))
			if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
				t.Errorf("status = %d, want 431", resp.StatusCode)
			}
		})
	}

	under := strings.Repeat("a", 48<<10)
	for name, header := range map[string]string{
		"a long bearer token":   "Authorization: Bearer " + under,
		"a long session cookie": "Cookie: " + sessionCookie + "=" + under,
	} {
		t.Run(name+" under the limit", func(t *testing.T) {
			resp, body := sendRaw(t, th.addr(), rawGet(path, header))
			checkProblem(t, resp, []byte(body), http.StatusUnauthorized)
		})
	}
}

func slicesRepeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

// A client that dribbles its headers is cut off by the hub's server after
// ReadHeaderTimeout, and while it dribbles, others are served promptly.
func TestSlowHeadersAreTimedOutWhileOthersAreServed(t *testing.T) {
	h, err := newHub(t.Context(), options{Seed: testSeed})
	if err != nil {
		t.Fatalf("newHub: %v", err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Config = newServer(h, slog.New(slog.DiscardHandler))
	const timeout = 500 * time.Millisecond
	srv.Config.ReadHeaderTimeout = timeout
	srv.Start()
	t.Cleanup(srv.Close)
	t.Cleanup(func() { h.Close() })
	addr := srv.Listener.Addr().String()
	token := h.secrets.tokens["user-123"]

	const slowClients = 20
	cut := make(chan time.Duration, slowClients)
	for range slowClients {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		go func() {
			start := time.Now()
			io.WriteString(conn, "GET /api/gateway/user-123/my-api-def456/ HTTP/1.1\r\nHost: x\r\nX-Slow: ")
			// One byte every 100ms, for at most 5s: far past the timeout.
			for range 50 {
				if _, err := conn.Write([]byte("a")); err != nil {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			io.Copy(io.Discard, conn) // the server's close, or the deadline
			cut <- time.Since(start)
		}()
	}

	client := &http.Client{Timeout: 5 * time.Second}
	for range 5 {
		req, _ := http.NewRequestWithContext(t.Context(), "GET",
			srv.URL+"/api/gateway/user-123/my-api-def456/api/v1/users", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("a normal client while others dribble: %v", err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || time.Since(start) > 2*time.Second {
			t.Errorf("a normal client while others dribble: %d after %v, want a prompt 200",
				resp.StatusCode, time.Since(start))
		}
		time.Sleep(100 * time.Millisecond)
	}

	for range slowClients {
		select {
		case d := <-cut:
			// Cut when the timeout passes: the write loop notices at its
			// next byte, not after its 5s of dribbling.
			if d > timeout+2*time.Second {
				t.Errorf("a slow client was cut after %v, want about %v", d, timeout)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("a slow client was never cut off")
		}
	}
}

// Malformed, oversized and repeated credentials are refused with the
// gateway's 401, never with a 500; control characters, which net/http
// refuses itself, get its plain 400.
func TestMalformedCredentialsAre401(t *testing.T) {
	th := startHub(t)
	const path = "/api/gateway/user-123/my-api-def456/api/v1/users"
	token := th.token("user-123")
	session := sessionCookieOf(t, th.login(t, "user-123", th.secrets.password, "")).Value
	flipped := []byte(session)
	flipped[len(flipped)/2] ^= 1
	many := make([]string, 50)
	for i := range many {
		many[i] = "Authorization: Bearer " + token
	}

	cases := map[string][]string{
		"garbage":                   {"Authorization: garbage"},
		"scheme only":               {"Authorization: Bearer"},
		"scheme and space":          {"Authorization: Bearer "},
		"unknown scheme":            {"Authorization: Basic dXNlcjpwYXNz"},
		"non-ASCII token":           {"Authorization: Bearer t\xc3\xb6k\xc3\xa9n"},
		"invalid UTF-8":             {"Authorization: Bearer \xff\xfe\xfd"},
		"padding inside the token":  {"Authorization: Bearer ab==cd"},
		"only padding":              {"Authorization: Bearer ===="},
		"truncated token":           {"Authorization: Bearer " + token[:len(token)-1]},
		"token with a suffix":       {"Authorization: Bearer " + token + "x"},
		"two tokens in one header":  {"Authorization: Bearer " + token + " " + token},
		"token list":                {"Authorization: Bearer " + token + ", Bearer " + token},
		"tab after the scheme":      {"Authorization: Bearer\t" + token},
		"valid and garbage headers": {"Authorization: Bearer " + token, "Authorization: garbage"},
		"fifty Authorization lines": many,
		"4 KiB token":               {"Authorization: Bearer " + strings.Repeat("A", 4097)},
		"empty cookie":              {"Cookie: " + sessionCookie + "="},
		"bad base64 cookie":         {"Cookie: " + sessionCookie + "=!!!not*base64%%%"},
		"half-quoted cookie":        {"Cookie: " + sessionCookie + `="` + session},
		"non-ASCII cookie":          {"Cookie: " + sessionCookie + "=s\xc3\xa9ssion"},
		"truncated cookie":          {"Cookie: " + sessionCookie + "=" + session[:len(session)/2]},
		"cookie one bit off":        {"Cookie: " + sessionCookie + "=" + string(flipped)},
		"garbage cookie first":      {"Cookie: " + sessionCookie + "=x; " + sessionCookie + "=" + session},
		"huge cookie under the cap": {"Cookie: " + sessionCookie + "=" + strings.Repeat("Zm9v", 8<<10)},
		"garbage of both kinds":     {"Cookie: " + sessionCookie + "=x", "Authorization: Bearer \xff"},
	}
	for name, headers := range cases {
		t.Run(name, func(t *testing.T) {
			resp, body := sendRaw(t, th.addr(), rawGet(path, headers...))
			checkProblem(t, resp, []byte(body), http.StatusUnauthorized)
			if resp.Header.Get("WWW-Authenticate") == "" {
				t.Error("no WWW-Authenticate challenge")
			}
		})
	}

	for name, header := range map[string]string{
		"control character in a token":  "Authorization: Bearer ab\x01cd",
		"control character in a cookie": "Cookie: " + sessionCookie + "=ab\x7fcd",
	} {
		t.Run(name, func(t *testing.T) {
			resp, body := sendRaw(t, th.addr(), rawGet(path, header))
			if resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("status = %d, want net/http's 400 or the gateway's 401; body %s",
					resp.StatusCode, body)
			}
		})
	}

	// The controls: the same credentials, well formed, are accepted; a
	// quoted cookie value is well formed (RFC 6265).
	for _, header := range []string{
		"Authorization: Bearer " + token,
		"Cookie: " + sessionCookie + "=" + session,
		"Cookie: " + sessionCookie + `="` + session + `"`,
	} {
		resp, body := sendRaw(t, th.addr(), rawGet(path, header))
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%.40s...: status %d, want 200; body %s", header, resp.StatusCode, body)
		}
	}
}
