package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
)

// maxNotes bounds the explanations a tally keeps; the counts go on.
const maxNotes = 20

// A tally counts what the traffic got back: answers by kind and status,
// responses that were not for the user, deployment or request asked
// (wrong), and answers no case allows (unexpected).
type tally struct {
	mu         sync.Mutex
	counts     map[string]int // "kind status" → answers
	wrong      int
	unexpected int
	notes      []string
}

func newTally() *tally { return &tally{counts: map[string]int{}} }

// add counts one answer of kind with status (or an outcome such as
// "canceled").
func (t *tally) add(kind string, status any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.counts[fmt.Sprintf("%s %v", kind, status)]++
}

// wrongf counts a response meant for someone or something else.
func (t *tally) wrongf(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.wrong++
	t.note("wrong: " + fmt.Sprintf(format, args...))
}

// unexpectedf counts an answer or error that no case allows.
func (t *tally) unexpectedf(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.unexpected++
	t.note("unexpected: " + fmt.Sprintf(format, args...))
}

func (t *tally) note(s string) {
	if len(t.notes) < maxNotes {
		t.notes = append(t.notes, s)
	}
}

func (t *tally) count(key string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.counts[key]
}

// report writes the counts, sorted, and the notes.
func (t *tally) report(w io.Writer) {
	t.mu.Lock()
	defer t.mu.Unlock()
	total := 0
	for _, k := range slices.Sorted(maps.Keys(t.counts)) {
		fmt.Fprintf(w, "  %-32s %d\n", k, t.counts[k])
		total += t.counts[k]
	}
	fmt.Fprintf(w, "answers: %d; wrong responses: %d; unexpected answers: %d\n",
		total, t.wrong, t.unexpected)
	for _, n := range t.notes {
		fmt.Fprintln(w, "  "+n)
	}
}
