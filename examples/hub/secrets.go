package main

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"io"
)

// demoUsers are the users the hub knows, in the order their tokens are
// printed.
var demoUsers = []string{"user-123", "user-456"}

// secrets are the hub's demo credentials and session keys.
type secrets struct {
	// tokens maps each demo user to their bearer token.
	tokens map[string]string
	// password signs in any demo user on the login form.
	password string
	// hashKey and blockKey sign and encrypt session cookies.
	hashKey, blockKey []byte
}

// lowerBase32 spells tokens and the password in lower-case letters and
// digits: easy to copy, and valid as an RFC 6750 bearer token.
var lowerBase32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").
	WithPadding(base32.NoPadding)

// newSecrets returns random secrets, or, when seed is not empty, secrets
// derived from seed with HMAC-SHA256, one label per secret, so that the same
// seed always gives the same secrets.
func newSecrets(seed string) secrets {
	draw := func(label string, n int) []byte {
		b := make([]byte, n)
		rand.Read(b) // never fails: crypto/rand aborts the process instead
		return b
	}
	if seed != "" {
		draw = func(label string, n int) []byte {
			mac := hmac.New(sha256.New, []byte(seed))
			io.WriteString(mac, "apigateway examples/hub v1 "+label)
			return mac.Sum(nil)[:n]
		}
	}

	s := secrets{
		tokens:   make(map[string]string, len(demoUsers)),
		password: lowerBase32.EncodeToString(draw("password", 10)),
		hashKey:  draw("session hash key", 32),
		blockKey: draw("session block key", 32),
	}
	for _, user := range demoUsers {
		s.tokens[user] = lowerBase32.EncodeToString(draw("token "+user, 20))
	}
	return s
}

// tokenUsers returns the map from token to user that [auth.StaticTokens]
// takes.
func (s secrets) tokenUsers() map[string]string {
	m := make(map[string]string, len(s.tokens))
	for user, token := range s.tokens {
		m[token] = user
	}
	return m
}

// writeDemoLines prints the demo credentials of s for a hub served at
// baseURL, one per line: a token line per demo user, then the login line.
func writeDemoLines(w io.Writer, baseURL string, s secrets) error {
	for _, user := range demoUsers {
		if _, err := fmt.Fprintf(w, "demo user=%s token=%s\n", user, s.tokens[user]); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "demo login=%s/login password=%s\n", baseURL, s.password)
	return err
}
