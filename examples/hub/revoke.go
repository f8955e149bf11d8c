package main

import (
	"context"
	"crypto/rand"
	"sync"
	"time"

	"github.com/gorilla/sessions"

	"github.com/mcphub/apigateway/auth"
)

// revocations remembers the sessions that signed out until they would have
// expired anyway, so that a copy of a signed-out cookie stops working at
// once. Cookie sessions carry everything in the cookie; this list is the
// one thing the server must keep.
type revocations struct {
	mu    sync.Mutex
	until map[string]time.Time // session id → its expiry
}

func newRevocations() *revocations {
	return &revocations{until: make(map[string]time.Time)}
}

// revoke ends session id, which expires at exp. Expired entries are
// dropped on the way, so the list holds at most the sessions that signed
// out within one session lifetime.
func (rv *revocations) revoke(id string, exp time.Time) {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	now := time.Now()
	for sid, t := range rv.until {
		if now.After(t) {
			delete(rv.until, sid)
		}
	}
	rv.until[id] = exp
}

// check is the cookie verifier's hook: a session without an id, or one
// that signed out, is refused.
func (rv *revocations) check(_ context.Context, s *sessions.Session, _ auth.Identity) error {
	id, _ := s.Values["sid"].(string)
	rv.mu.Lock()
	_, gone := rv.until[id]
	rv.mu.Unlock()
	if id == "" || gone {
		return auth.ErrUnauthenticated
	}
	return nil
}

// newSessionID returns a random session id.
func newSessionID() string { return rand.Text() }
