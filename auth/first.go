package auth

import (
	"errors"
	"net/http"
)

// FirstOf returns a verifier that asks each of verifiers in turn and answers
// with the first one that finds its credentials in the request, whether
// they turn out valid or not: a request with a bad bearer token is refused
// even if it also carries a good cookie. A request that none of them
// recognises fails with [ErrNoCredentials].
func FirstOf(verifiers ...SessionVerifier) SessionVerifier {
	vs := append([]SessionVerifier(nil), verifiers...)
	return VerifierFunc(func(r *http.Request) (Identity, error) {
		for _, v := range vs {
			id, err := v.Verify(r)
			if errors.Is(err, ErrNoCredentials) {
				continue
			}
			return id, err
		}
		return Identity{}, ErrNoCredentials
	})
}
