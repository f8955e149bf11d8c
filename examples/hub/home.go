package main

import (
	"html/template"
	"net/http"
	"net/url"

	"github.com/mcphub/apigateway/auth"
)

// homeHandler serves the home page: the signed-in user's deployments and
// their gateway links, or a link to the login form.
type homeHandler struct {
	verifier auth.SessionVerifier
	store    *memoryStore
}

// homeEntry is one deployment on the home page.
type homeEntry struct {
	ID, Title, Status, Link string
}

// homePage is the data of the home page.
type homePage struct {
	User        string
	Deployments []homeEntry
}

var homeTemplate = template.Must(template.New("home").Parse(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>hub</title></head>
<body>
<h1>hub</h1>
{{if .User}}
<p>Signed in as {{.User}}.</p>
<form method="post" action="/logout"><button type="submit">Sign out</button></form>
<h2>Your deployments</h2>
<ul>
{{range .Deployments}}<li><a href="{{.Link}}">{{.ID}}</a> ({{.Status}}): {{.Title}}</li>
{{end}}</ul>
{{else}}
<p>You are not signed in. <a href="/login">Sign in</a> with a demo user and
the password the hub printed, or call the gateway with a printed token in
an Authorization: Bearer header.</p>
{{end}}
</body>
</html>
`))

func (h *homeHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var page homePage
	if id, err := h.verifier.Verify(r); err == nil {
		page.User = id.UserID
		for _, l := range h.store.Owned(id.UserID) {
			page.Deployments = append(page.Deployments, homeEntry{
				ID:     l.ID,
				Title:  l.Title,
				Status: string(l.Status),
				Link:   deploymentLink(l),
			})
		}
	}

	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	homeTemplate.Execute(w, page)
}

// deploymentLink is the gateway path of l's entry page.
func deploymentLink(l listing) string {
	link := gatewayPrefix + url.PathEscape(l.OwnerID) + "/" + url.PathEscape(l.ID)
	if l.Entry == "" {
		return link + "/"
	}
	return link + l.Entry
}
