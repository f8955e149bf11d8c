package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func TestEventsAreStreamed(t *testing.T) {
	th := startHub(t)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet,
		th.url+"/api/gateway/user-123/openwebui-abc123/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+th.token("user-123"))

	resp, err := th.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Errorf("Content-Type = %q, want text/event-stream", ct)
	}
	var (
		first  time.Time
		events int
	)
	lines := bufio.NewScanner(resp.Body)
	for lines.Scan() {
		data, ok := strings.CutPrefix(lines.Text(), "data: ")
		if !ok {
			continue
		}
		if _, err := strconv.ParseInt(data, 10, 64); err != nil {
			t.Errorf("event data %q is not a Unix time in nanoseconds", data)
		}
		if events == 0 {
			first = time.Now()
		}
		events++
	}
	end := time.Now()

	if err := lines.Err(); err != nil {
		t.Fatalf("reading the stream: %v", err)
	}
	if events != sseEvents {
		t.Errorf("got %d events, want %d", events, sseEvents)
	}
	// The events are written over about two seconds: a proxy that buffered
	// them would deliver the first one only at the end.
	if lead := end.Sub(first); lead < time.Second {
		t.Errorf("first event arrived %v before the stream ended, want over 1s", lead)
	}
}

func TestWebSocketEcho(t *testing.T) {
	th := startHub(t)
	wsURL := "ws" + strings.TrimPrefix(th.url, "http") + "/api/gateway/user-123/openwebui-abc123/ws"

	t.Run("with token", func(t *testing.T) {
		c, _, err := websocket.Dial(t.Context(), wsURL, &websocket.DialOptions{
			HTTPClient: th.client,
			HTTPHeader: http.Header{"Authorization": {"Bearer " + th.token("user-123")}},
		})
		if err != nil {
			t.Fatalf("Dial: %v", err)
		}
		defer c.CloseNow()
		for _, msg := range []string{"hello", "through the gateway"} {
			if err := c.Write(t.Context(), websocket.MessageText, []byte(msg)); err != nil {
				t.Fatalf("Write: %v", err)
			}
			typ, got, err := c.Read(t.Context())
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if typ != websocket.MessageText || string(got) != msg {
				t.Errorf("echo = %v %q, want text %q", typ, got, msg)
			}
		}
		c.Close(websocket.StatusNormalClosure, "")
	})

	t.Run("without token", func(t *testing.T) {
		c, resp, err := websocket.Dial(t.Context(), wsURL, &websocket.DialOptions{HTTPClient: th.client})
		if err == nil {
			c.CloseNow()
			t.Fatal("Dial succeeded without a token")
		}
		if resp == nil {
			t.Fatalf("Dial: %v, and no response", err)
		}
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("status = %d, want 401", resp.StatusCode)
		}
		if got := resp.Header.Get("Upgrade"); got != "" {
			t.Errorf("refused handshake has Upgrade: %q", got)
		}
	})
}

func TestWebAppStaysUnderItsPrefix(t *testing.T) {
	th := startHub(t)
	const prefix = "/api/gateway/user-123/openwebui-abc123"

	resp, body := th.getAs(t, "user-123", prefix+"/")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200", resp.StatusCode)
	}
	page, _ := url.Parse(th.url + prefix + "/")
	links := regexp.MustCompile(`(?:href|src)="([^"]+)"`).FindAllStringSubmatch(string(body), -1)
	var hrefs []string
	for _, m := range links {
		hrefs = append(hrefs, m[1])
	}
	for _, want := range []string{"static/app.js", "static/css/main.css", "go-home", "events"} {
		if !slices.Contains(hrefs, want) {
			t.Errorf("page links %q, want %q among them", hrefs, want)
		}
	}

	for _, asset := range []string{"static/app.js", "static/css/main.css"} {
		u, _ := page.Parse(asset)
		resp, _ := th.getAs(t, "user-123", u.Path)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: status %d, want 200", u.Path, resp.StatusCode)
		}
	}

	t.Run("redirect", func(t *testing.T) {
		resp, _ := th.getAs(t, "user-123", prefix+"/go-home")
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("status = %d, want 302", resp.StatusCode)
		}
		loc, err := resp.Location()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(loc.Path, prefix+"/") {
			t.Errorf("Location = %q, want it under %s/", loc, prefix)
		}
	})

	t.Run("cookie", func(t *testing.T) {
		resp, _ := th.getAs(t, "user-123", prefix+"/set-cookie")
		cookies := resp.Cookies()
		if len(cookies) != 1 {
			t.Fatalf("got cookies %q, want one", resp.Header.Values("Set-Cookie"))
		}
		if !strings.HasPrefix(cookies[0].Path, prefix) {
			t.Errorf("cookie Path = %q, want it under %s", cookies[0].Path, prefix)
		}
	})
}

func TestEchoSeesOnlyWhatTheGatewayForwards(t *testing.T) {
	th := startHub(t)
	const path = "/api/gateway/user-123/my-api-def456/echo/a%2Fb?q=1&q=2"
	session := sessionCookieOf(t, th.login(t, "user-123", th.secrets.password, "/"))

	tests := []struct {
		name           string
		header         http.Header
		wantAuthHeader string
	}{{
		name: "bearer",
		header: http.Header{
			"Authorization":     {"Bearer " + th.token("user-123")},
			"Cookie":            {"app_pref=1"},
			"X-Gateway-User-Id": {"user-456"},
		},
	}, {
		// A signed-in browser app may send its own Authorization header:
		// the session authenticates, and the app's header is the app's.
		name: "cookie",
		header: http.Header{
			"Authorization":     {"Bearer app-own-token"},
			"Cookie":            {session.Name + "=" + session.Value + "; app_pref=1"},
			"X-Gateway-User-Id": {"user-456"},
		},
		wantAuthHeader: "Bearer app-own-token",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.header.Set("Content-Type", "text/plain")
			resp, body := th.do(t, http.MethodPost, path, tt.header, strings.NewReader("12345"))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d, want 200; body: %s", resp.StatusCode, body)
			}
			var got echoed
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatal(err)
			}

			if got.Method != http.MethodPost || got.Path != "/echo/a%2Fb" ||
				got.RawQuery != "q=1&q=2" || got.BodyBytes != 5 {
				t.Errorf("echo = %s %q ?%q %d bytes, want POST \"/echo/a%%2Fb\" ?\"q=1&q=2\" 5 bytes",
					got.Method, got.Path, got.RawQuery, got.BodyBytes)
			}
			h := http.Header(got.Headers)
			if got := h.Get("Authorization"); got != tt.wantAuthHeader {
				t.Errorf("upstream Authorization = %q, want %q", got, tt.wantAuthHeader)
			}
			if got := h.Values("X-Gateway-User-Id"); !slices.Equal(got, []string{"user-123"}) {
				t.Errorf("upstream X-Gateway-User-Id = %q, want [user-123]", got)
			}
			names := []string{}
			for _, c := range got.Cookies {
				names = append(names, c.Name)
			}
			if !slices.Equal(names, []string{"app_pref"}) {
				t.Errorf("upstream cookies = %q, want [app_pref]", names)
			}
		})
	}
}
