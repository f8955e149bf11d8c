package auth

import (
	"errors"
	"net/http"
)

// FirstOf returns a verifier that asks each of verifiers in turn and
// answers with the first identity one of them proves. A credential that is
// present but invalid does not end the search: a browser's stale session
// cookie does not lock out the valid bearer token sent with it, and the
// order only decides which identity wins when several credentials are valid
// (put the cookie verifier first, so that an application's own
// Authorization header is not taken for the platform's). When none
// succeeds, the error is the first verifier's that found credentials, or
// [ErrNoCredentials] if none did.
func FirstOf(verifiers ...SessionVerifier) SessionVerifier {
	vs := append([]SessionVerifier(nil), verifiers...)
	return VerifierFunc(func(r *http.Request) (Identity, error) {
		var firstErr error
		for _, v := range vs {
			id, err := v.Verify(r)
			if err == nil {
				return id, nil
			}
			if firstErr == nil && !errors.Is(err, ErrNoCredentials) {
				firstErr = err
			}
		}
		if firstErr != nil {
			return Identity{}, firstErr
		}
		return Identity{}, ErrNoCredentials
	})
}
