package gateway_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mcphub/apigateway/auth"
	"github.com/mcphub/apigateway/gateway"
	"github.com/mcphub/apigateway/limit"
)

// TestParallelRequestsKeepTheirOwnState sends many requests at once, from
// two users to their own deployments, plain, with 1xx responses and as
// WebSocket upgrades, and checks that each one reaches its own deployment
// with its own identity and request id, and that the answer it gets
// carries its own request id: context nodes, the target's lent room and
// the pooled staging header maps must never cross requests. Run it with
// -race.
func TestParallelRequestsKeepTheirOwnState(t *testing.T) {
	echo := func(name string) *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Upgrade") == "websocket" {
				conn, brw, err := http.NewResponseController(w).Hijack()
				if err != nil {
					return
				}
				defer conn.Close()
				brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n" +
					"Connection: Upgrade\r\nX-Up: " + r.Header.Get("X-Request-Id") + "\r\n\r\n")
				brw.Flush()
				line, _ := brw.ReadString('\n')
				fmt.Fprintf(conn, "%s %s %s %s", name, r.Header.Get("X-Gateway-User-Id"),
					r.Header.Get("X-Request-Id"), line)
				return
			}
			if r.URL.Query().Get("hints") != "" {
				w.Header().Set("Link", "</"+r.Header.Get("X-Request-Id")+">; rel=preload")
				w.WriteHeader(http.StatusEarlyHints)
			}
			w.Header().Set("X-Echo-Request-Id", r.Header.Get("X-Request-Id"))
			w.Header().Add("Vary", "X-Up-"+r.Header.Get("X-Request-Id"))
			fmt.Fprintf(w, "%s %s %s %s", name, r.Header.Get("X-Gateway-User-Id"),
				r.Header.Get("X-Gateway-Deployment-Id"), r.Header.Get("X-Forwarded-Prefix"))
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	up1, up2 := echo("dep-1"), echo("dep-2")
	store := &fakeStore{deps: map[string]gateway.Deployment{
		"dep-1": {ID: "dep-1", OwnerID: "user-1", Status: gateway.StatusRunning, UpstreamURL: up1.URL},
		"dep-2": {ID: "dep-2", OwnerID: "user-2", Status: gateway.StatusRunning, UpstreamURL: up2.URL,
			Rate: limit.Rate{Limit: 1 << 20, Period: time.Minute}},
	}}
	tokens := map[string]string{tokenUser1: "user-1", tokenUser2: "user-2"}
	v, err := auth.NewBearerVerifier(auth.StaticTokens(tokens))
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.New(gateway.Config{Verifier: v, Deployments: store,
		Limits: limit.Config{PerUser: limit.Rate{Limit: 1 << 20, Period: time.Minute},
			PerDeployment: limit.Rate{Limit: 1 << 20, Period: time.Minute}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	t.Cleanup(client.CloseIdleConnections)

	users := []struct{ user, dep, token string }{
		{"user-1", "dep-1", tokenUser1}, {"user-2", "dep-2", tokenUser2},
	}
	for i := range 64 {
		u := users[i%2]
		t.Run(fmt.Sprintf("%d", i), func(t *testing.T) {
			t.Parallel()
			for j := range 20 {
				switch (i + j) % 3 {
				case 0, 1:
					query := ""
					if (i+j)%3 == 1 {
						query = "?hints=1"
					}
					url := srv.URL + "/api/gateway/" + u.user + "/" + u.dep + "/x" + query
					checkPlain(t, client, url, u.user, u.dep, u.token)
				case 2:
					checkUpgrade(t, srv.Listener.Addr().String(), u.user, u.dep, u.token)
				}
			}
		})
	}
}

func checkPlain(t *testing.T, client *http.Client, url, user, dep, token string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	id := resp.Header.Get("X-Request-Id")
	want := dep + " " + user + " " + dep + " /api/gateway/" + user + "/" + dep
	if string(body) != want {
		t.Errorf("body %q, want %q", body, want)
	}
	if got := resp.Header.Values("X-Request-Id"); len(got) != 1 {
		t.Errorf("X-Request-Id: got %q, want one value", got)
	}
	if got := resp.Header.Get("X-Echo-Request-Id"); got != id || id == "" {
		t.Errorf("upstream saw request id %q, the answer carries %q", got, id)
	}
	got := resp.Header.Get("Vary")
	if !strings.Contains(got, "X-Up-"+id) || strings.Count(got, "X-Up-") != 1 {
		t.Errorf("Vary %q, want the upstream's own for %s once", got, id)
	}
}

func checkUpgrade(t *testing.T, addr, user, dep, token string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET /api/gateway/%s/%s/ws HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"+
		"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", user, dep, addr, token)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d, want 101", resp.StatusCode)
	}
	id := resp.Header.Get("X-Request-Id")
	if got := resp.Header.Get("X-Up"); got != id || id == "" {
		t.Errorf("101: upstream saw request id %q, the answer carries %q", got, id)
	}
	fmt.Fprintf(conn, "ping\n")
	rest, _ := io.ReadAll(br)
	if want := dep + " " + user + " " + id + " ping\n"; string(rest) != want {
		t.Errorf("upgraded stream %q, want %q", rest, want)
	}
}
