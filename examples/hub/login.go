package main

import (
	"crypto/subtle"
	"html/template"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/gorilla/sessions"

	"github.com/mcphub/apigateway/auth"
)

// maxFormBytes bounds the login form's body.
const maxFormBytes = 16 << 10

// loginHandler signs demo users in and out with the gateway's session
// cookie. Each session has a random id; signing out revokes it, so a copy
// of the cookie taken earlier stops working too. Revocations live in
// memory: a restart forgets them (and, without -demo-seed, changes the
// signing keys, which ends every session anyway).
type loginHandler struct {
	store    *sessions.CookieStore
	password string
	ttl      time.Duration
	revoked  *revocations
	logger   *slog.Logger
}

// loginPage is the data of the login form.
type loginPage struct {
	ReturnTo string
	Users    []string
	Failed   bool
}

var loginForm = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Sign in · hub</title></head>
<body>
<h1>Sign in</h1>
{{if .Failed}}<p role="alert">Unknown user or wrong password.</p>{{end}}
<form method="post" action="/login">
<input type="hidden" name="return_to" value="{{.ReturnTo}}">
<p><label>User <select name="user">{{range .Users}}<option>{{.}}</option>{{end}}</select></label></p>
<p><label>Password <input type="password" name="password" autocomplete="current-password"></label></p>
<p><button type="submit">Sign in</button></p>
</form>
<p>The password was printed on the hub's console.</p>
</body>
</html>
`))

// form shows the login form.
func (l *loginHandler) form(w http.ResponseWriter, r *http.Request) {
	l.render(w, http.StatusOK, loginPage{ReturnTo: returnPath(r.URL.Query().Get("return_to"))})
}

// signIn checks the form, sets the session cookie and redirects to the
// return path; a wrong user or password gets the form again, with 401.
func (l *loginHandler) signIn(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	user := r.PostForm.Get("user")
	back := returnPath(r.PostForm.Get("return_to"))

	if !l.valid(user, r.PostForm.Get("password")) {
		l.logger.Info("login refused", "user", user)
		l.render(w, http.StatusUnauthorized, loginPage{ReturnTo: back, Failed: true})
		return
	}

	// Always a new session, never one decoded from the request, so that no
	// value planted before the login survives it.
	s := sessions.NewSession(l.store, sessionCookie)
	opts := *l.store.Options
	s.Options = &opts
	s.IsNew = true
	s.Values["user_id"] = user
	s.Values["sid"] = newSessionID()
	s.Values["expires_at"] = time.Now().Add(l.ttl).Unix()
	if err := l.store.Save(r, w, s); err != nil {
		l.logger.Error("saving session", "err", err)
		http.Error(w, "could not sign in", http.StatusInternalServerError)
		return
	}
	l.logger.Info("login", "user", user)
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// valid reports whether password is the demo password and user a demo user.
func (l *loginHandler) valid(user, password string) bool {
	ok := subtle.ConstantTimeCompare([]byte(password), []byte(l.password)) == 1
	return ok && slices.Contains(demoUsers, user)
}

// signOut revokes the session, removes its cookie and goes home.
func (l *loginHandler) signOut(w http.ResponseWriter, r *http.Request) {
	if s, err := l.store.New(r, sessionCookie); err == nil && !s.IsNew {
		sid, _ := s.Values["sid"].(string)
		exp, _ := s.Values["expires_at"].(int64)
		if sid != "" {
			l.revoked.revoke(sid, time.Unix(exp, 0))
		}
	}
	http.SetCookie(w, &http.Cookie{
		Name:     sessionCookie,
		Path:     "/",
		MaxAge:   -1,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (l *loginHandler) render(w http.ResponseWriter, status int, page loginPage) {
	page.Users = demoUsers
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	loginForm.Execute(w, page)
}

// returnPath returns p if it is a safe place to send the browser after
// login (a local path: see [auth.SafeReturnPath]), and "/" otherwise.
func returnPath(p string) string {
	if back, ok := auth.SafeReturnPath(p); ok {
		return back
	}
	return "/"
}
