package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// upstream is the deployment the hub lists as external-app-900: a server
// of this program's own, on a fixed loopback port, that it can stop (every
// connection cut, new ones refused) and start again, as a redeployed app
// would be.
type upstream struct {
	addr     string
	handler  http.Handler
	received atomic.Int64 // bytes of the last /upload body

	mu  sync.Mutex
	srv *http.Server // nil while stopped
}

// whoami is what the upstream's /whoami answers: who the gateway says is
// asking, and the nonce the client sent, so that a response can be matched
// to its request.
type whoami struct {
	User       string `json:"user"`
	Deployment string `json:"deployment"`
	Nonce      string `json:"nonce"`
}

// pattern is the byte at offset i of every body /download sends and
// /upload expects, so that both ends can check content as well as length
// without buffering.
func pattern(i int64) byte { return byte(i*7 + i>>9) }

// patternReader reads n bytes of pattern, from offset 0.
type patternReader struct{ off, n int64 }

func (p *patternReader) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	b = b[:min(int64(len(b)), p.n-p.off)]
	for i := range b {
		b[i] = pattern(p.off + int64(i))
	}
	p.off += int64(len(b))
	return len(b), nil
}

// checkPattern reads r to the end and returns how many bytes it held, or
// an error at the first byte that is not the pattern's.
func checkPattern(r io.Reader) (int64, error) {
	buf := make([]byte, 64<<10)
	var off int64
	for {
		n, err := r.Read(buf)
		for i := range n {
			if buf[i] != pattern(off+int64(i)) {
				return off + int64(i), fmt.Errorf("byte %d differs from the pattern", off+int64(i))
			}
		}
		off += int64(n)
		if err == io.EOF {
			return off, nil
		}
		if err != nil {
			return off, err
		}
	}
}

func newUpstream() (*upstream, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	u := &upstream{addr: ln.Addr().String()}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /whoami", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(whoami{
			User:       r.Header.Get("X-Gateway-User-Id"),
			Deployment: r.Header.Get("X-Gateway-Deployment-Id"),
			Nonce:      r.URL.Query().Get("nonce"),
		})
	})
	mux.HandleFunc("POST /upload", func(w http.ResponseWriter, r *http.Request) {
		n, err := checkPattern(r.Body)
		u.received.Store(n)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprint(w, n)
	})
	mux.HandleFunc("GET /download", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.ParseInt(r.URL.Query().Get("bytes"), 10, 64)
		if err != nil || n < 0 || n > 4<<30 {
			http.Error(w, "bytes must be 0 to 4 GiB", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		io.Copy(w, &patternReader{n: n})
	})
	u.handler = mux
	u.serve(ln)
	return u, nil
}

func (u *upstream) url() string { return "http://" + u.addr }

func (u *upstream) serve(ln net.Listener) {
	srv := &http.Server{Handler: u.handler, ReadHeaderTimeout: 10 * time.Second}
	u.mu.Lock()
	u.srv = srv
	u.mu.Unlock()
	go srv.Serve(ln)
}

// stop closes the server and every connection it has, as a crash would.
func (u *upstream) stop() {
	u.mu.Lock()
	srv := u.srv
	u.srv = nil
	u.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

// start listens again on the same port. The port was just released, so a
// few tries may be needed.
func (u *upstream) start(ctx context.Context) error {
	var lc net.ListenConfig
	for {
		ln, err := lc.Listen(ctx, "tcp", u.addr)
		if err == nil {
			u.serve(ln)
			return nil
		}
		if ctx.Err() != nil {
			return errors.Join(err, ctx.Err())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
