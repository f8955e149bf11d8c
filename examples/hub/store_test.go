package main

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mcphub/apigateway/gateway"
)

func TestMemoryStore(t *testing.T) {
	a := listing{Deployment: gateway.Deployment{ID: "a-1", OwnerID: "u-1", Status: gateway.StatusRunning}}
	b := listing{Deployment: gateway.Deployment{ID: "b-1", OwnerID: "u-2", Status: gateway.StatusStopped}}
	s, err := newMemoryStore([]listing{b, a})
	if err != nil {
		t.Fatal(err)
	}

	got, err := s.Deployment(t.Context(), "a-1")
	if err != nil || !cmp.Equal(got, a.Deployment) {
		t.Errorf("Deployment(a-1) = %+v, %v; want %+v", got, err, a.Deployment)
	}
	if _, err := s.Deployment(t.Context(), "c-1"); !errors.Is(err, gateway.ErrDeploymentNotFound) {
		t.Errorf("Deployment(c-1) error = %v, want one wrapping ErrDeploymentNotFound", err)
	}
	if diff := cmp.Diff([]listing{b}, s.Owned("u-2")); diff != "" {
		t.Errorf("Owned(u-2) (-want +got):\n%s", diff)
	}
	if _, err := newMemoryStore([]listing{a, a}); err == nil {
		t.Error("newMemoryStore accepted a duplicate id")
	}
}
