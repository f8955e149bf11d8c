package main

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/mcphub/apigateway/gateway"
)

// A listing is one deployment as the hub knows it: what the gateway needs,
// and what the home page shows.
type listing struct {
	gateway.Deployment

	// Title describes the deployment on the home page.
	Title string
	// Entry is the path below the deployment's gateway prefix that the home
	// page links to, such as "/" or "/mcp".
	Entry string
}

// memoryStore is the hub's [gateway.DeploymentStore]: a fixed set of
// deployments, known at start and never changed, so it needs no lock.
type memoryStore struct {
	byID map[string]listing
}

var _ gateway.DeploymentStore = (*memoryStore)(nil)

// newMemoryStore returns a store of listings, which must have distinct,
// non-empty ids.
func newMemoryStore(listings []listing) (*memoryStore, error) {
	s := &memoryStore{byID: make(map[string]listing, len(listings))}
	for _, l := range listings {
		if l.ID == "" {
			return nil, fmt.Errorf("deployment of %q has no id", l.OwnerID)
		}
		if _, dup := s.byID[l.ID]; dup {
			return nil, fmt.Errorf("deployment id %q is used twice", l.ID)
		}
		s.byID[l.ID] = l
	}
	return s, nil
}

// Deployment implements [gateway.DeploymentStore].
func (s *memoryStore) Deployment(_ context.Context, id string) (gateway.Deployment, error) {
	l, ok := s.byID[id]
	if !ok {
		return gateway.Deployment{}, fmt.Errorf("%w: %q", gateway.ErrDeploymentNotFound, id)
	}
	return l.Deployment, nil
}

// Owned returns the listings of user's deployments, sorted by id.
func (s *memoryStore) Owned(user string) []listing {
	var owned []listing
	for _, l := range s.byID {
		if l.OwnerID == user {
			owned = append(owned, l)
		}
	}
	slices.SortFunc(owned, func(a, b listing) int { return cmp.Compare(a.ID, b.ID) })
	return owned
}
