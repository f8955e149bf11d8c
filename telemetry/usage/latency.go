package usage

import (
	"math"
	"math/bits"
	"time"
)

// Latencies are counted in a histogram of log-linear bins: each power of
// two from 2^17ns (131µs) to 2^37ns (137s) is cut into four equal bins, so
// the upper bound of a bin is at most 1.25 times its lower bound. One bin
// below holds the shorter latencies and one above the longer ones.
const (
	minExponent       = 17 // the first octave starts at 2^17ns
	octaves           = 20 // the last one ends at 2^37ns
	subBins           = 4  // bins per octave; a power of two
	subBinBits        = 2  // log2(subBins)
	latencyBins       = 1 + octaves*subBins + 1
	overflowBin       = latencyBins - 1
	minBinned         = 1 << minExponent
	maxBinned         = 1 << (minExponent + octaves)
	underflowEstimate = minBinned / 2
)

// histogram counts latencies by bin.
type histogram [latencyBins]uint32

// latencyBin returns the bin of d, which is positive.
func latencyBin(d time.Duration) int {
	switch {
	case d < minBinned:
		return 0
	case d >= maxBinned:
		return overflowBin
	}
	exp := bits.Len64(uint64(d)) - 1
	sub := int(uint64(d)>>(exp-subBinBits)) & (subBins - 1)
	return 1 + (exp-minExponent)*subBins + sub
}

// binBounds returns the lower and upper bounds of a bin that is neither
// the underflow nor the overflow bin.
func binBounds(bin int) (lo, hi float64) {
	exp := minExponent + (bin-1)/subBins
	sub := (bin - 1) % subBins
	octave := math.Ldexp(1, exp)
	lo = octave * (1 + float64(sub)/subBins)
	hi = octave * (1 + float64(sub+1)/subBins)
	return lo, hi
}

// latencyStats gathers the latencies of several spans.
type latencyStats struct {
	bins     histogram
	min, max time.Duration
	n        uint64
}

// add merges the latencies of one span.
func (l *latencyStats) add(h *histogram, shortest, longest time.Duration) {
	var n uint64
	for i, c := range h {
		l.bins[i] = addSaturating(l.bins[i], c)
		n += uint64(c)
	}
	if n == 0 {
		return
	}
	if l.n == 0 || shortest < l.min {
		l.min = shortest
	}
	l.max = max(l.max, longest)
	l.n += n
}

// percentile estimates the latency below which fraction p of the
// requests fall: the geometric middle of the bin that holds the request of
// rank ⌈p·n⌉, kept within the shortest and longest latency seen.
func (l *latencyStats) percentile(p float64) time.Duration {
	if l.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(p * float64(l.n)))
	rank = max(rank, 1)
	var seen uint64
	bin := overflowBin
	for i, c := range l.bins {
		seen += uint64(c)
		if seen >= rank {
			bin = i
			break
		}
	}

	var est time.Duration
	switch bin {
	case 0:
		est = underflowEstimate
	case overflowBin:
		est = l.max
	default:
		lo, hi := binBounds(bin)
		est = time.Duration(math.Sqrt(lo * hi))
	}
	return min(max(est, l.min), l.max)
}

// addSaturating returns a+b, or the largest uint32 when that overflows.
func addSaturating(a, b uint32) uint32 {
	if s := a + b; s >= a {
		return s
	}
	return math.MaxUint32
}
