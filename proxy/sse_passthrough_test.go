package proxy

import (
	"bytes"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

// chunkReader returns its data in pieces of random length.
type chunkReader struct {
	data []byte
	rnd  *rand.Rand
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := 1 + r.rnd.IntN(min(len(p), len(r.data), 70<<10))
	n = copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

// ordinaryStream builds a stream without endpoint events: fields,
// comments, blank lines, every kind of line end, lines longer than the
// rewriter holds back (none of them event fields), and sometimes a BOM
// and a last line without an end.
func ordinaryStream(rnd *rand.Rand) string {
	var b strings.Builder
	if rnd.IntN(4) == 0 {
		b.WriteString("\uFEFF")
	}
	ends := []string{"\n", "\r", "\r\n", "\r\r\n", "\n\r"}
	lines := []string{
		"data: {\"jsonrpc\":\"2.0\"}", "data:x", "data", "event: message", "event:ping",
		"event", "id: 7", "retry: 10", ": keep-alive", ":", "", "x", "\uFEFFdata: y",
		"data: http://evil.example/steal", "event: endpoints", "data: \t ",
	}
	for n := rnd.IntN(30); n > 0; n-- {
		switch rnd.IntN(12) {
		case 0:
			name := []string{"data: ", ":", "id: ", "x"}[rnd.IntN(4)]
			b.WriteString(name + strings.Repeat("a", maxEventLine-10+rnd.IntN(40)))
		default:
			b.WriteString(lines[rnd.IntN(len(lines))])
		}
		if n > 1 || rnd.IntN(3) > 0 {
			b.WriteString(ends[rnd.IntN(len(ends))])
		}
	}
	return b.String()
}

// An event stream without endpoint events leaves the rewriter as it came,
// byte for byte, but for a byte order mark at its start and lone CRs,
// which leave as CRLF.
func TestOrdinaryStreamsPassUnchanged(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := range 300 {
		in := ordinaryStream(rnd)
		want := loneCRsAsCRLF(strings.TrimPrefix(in, "\uFEFF"))
		r := newEndpointRewriter(io.NopCloser(&chunkReader{[]byte(in), rnd}), func(v string) string {
			t.Fatalf("stream %d: rewrote %q", i, v)
			return v
		})
		got, err := io.ReadAll(r)
		if err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
		if !bytes.Equal(got, []byte(want)) {
			t.Fatalf("stream %d changed:\n got %q\nwant %q", i, shortLines(got), shortLines([]byte(want)))
		}
	}
}

// shortLines cuts each line of b to 40 bytes, for readable failures.
func shortLines(b []byte) []byte {
	var out []byte
	for _, line := range bytes.SplitAfter(b, []byte("\n")) {
		if len(line) > 80 {
			line = append(append([]byte{}, line[:40]...), []byte("…")...)
		}
		out = append(out, line...)
	}
	return out
}

// loneCRsAsCRLF returns s with every CR not followed by LF made a CRLF.
func loneCRsAsCRLF(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteByte(s[i])
		if s[i] == '\r' && (i+1 == len(s) || s[i+1] != '\n') {
			b.WriteByte('\n')
		}
	}
	return b.String()
}
