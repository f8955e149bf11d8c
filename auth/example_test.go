package auth_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/gorilla/sessions"

	"github.com/mcphub/apigateway/auth"
)

// A platform that accepts its session cookie or an API token.
func Example() {
	cookies, _ := auth.NewCookieVerifier(auth.CookieConfig{
		Store: sessions.NewCookieStore([]byte("use 32 or 64 random bytes here!!")),
		Name:  "platform_session",
	})
	tokens, _ := auth.NewBearerVerifier(auth.StaticTokens(map[string]string{"tok-123": "user-123"}))
	authn, _ := auth.New(auth.Config{Verifier: auth.FirstOf(cookies, tokens)})

	h := authn.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := auth.FromContext(r.Context())
		fmt.Fprintf(w, "hello %s", id.UserID)
	}))

	for _, token := range []string{"tok-123", "wrong"} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code == http.StatusOK {
			fmt.Println(w.Code, w.Body)
		} else {
			fmt.Println(w.Code, w.Header().Get("WWW-Authenticate"))
		}
	}
	// Output:
	// 200 hello user-123
	// 401 Bearer realm="apigateway", error="invalid_token"
}
