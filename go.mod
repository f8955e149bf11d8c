module github.com/mcphub/apigateway

go 1.26

require (
	github.com/coder/websocket v1.8.15 // indirect
	github.com/google/go-cmp v0.7.0 // indirect
	github.com/gorilla/securecookie v1.1.2 // indirect
	github.com/gorilla/sessions v1.4.0 // indirect
	github.com/justinas/alice v1.2.0 // indirect
	github.com/maypok86/otter/v2 v2.4.0 // indirect
	github.com/modelcontextprotocol/go-sdk v1.8.0 // indirect
	golang.org/x/sync v0.25.0 // indirect
)
