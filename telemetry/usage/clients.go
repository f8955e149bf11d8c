package usage

import (
	"crypto/rand"
	"encoding/binary"
	"math"
	"math/bits"
	"slices"
)

// Distinct clients are counted per span by their keyed hashes: exactly,
// as a set of up to 16 hashes, and beyond that with a HyperLogLog sketch of
// 128 one-byte registers, whose standard error is 1.04/√128, about 9%.
// The set is kept in the registers' bytes. Sketches of several spans merge
// without loss, so the window's count is as accurate as one span's.
const (
	sketchBits      = 7
	sketchRegisters = 1 << sketchBits
	sketchSet       = sketchRegisters / 8 // hashes the registers' bytes hold
)

// sketch counts the distinct clients of a span.
type sketch struct {
	regs  registers // or, while !dense, the set
	n     uint8     // hashes in the set
	dense bool
}

// add counts the client whose hash is h.
func (s *sketch) add(h uint64) {
	if !s.dense {
		for i := range int(s.n) {
			if s.at(i) == h {
				return
			}
		}
		if s.n < sketchSet {
			binary.LittleEndian.PutUint64(s.regs[8*int(s.n):], h)
			s.n++
			return
		}
		var set [sketchSet]uint64
		for i := range set {
			set[i] = s.at(i)
		}
		*s = sketch{dense: true}
		for _, x := range set {
			s.regs.add(x)
		}
	}
	s.regs.add(h)
}

// at returns the i-th hash of the set.
func (s *sketch) at(i int) uint64 {
	return binary.LittleEndian.Uint64(s.regs[8*i:])
}

// registers are the registers of a HyperLogLog sketch.
type registers [sketchRegisters]uint8

// add counts the client whose hash is h.
func (r *registers) add(h uint64) {
	i := h >> (64 - sketchBits)
	// The bit set below the shifted hash bounds the rank when the rest of
	// the hash is zero.
	rank := uint8(bits.LeadingZeros64(h<<sketchBits|1<<(sketchBits-1)) + 1)
	r[i] = max(r[i], rank)
}

// estimate returns the number of distinct clients counted: the raw
// HyperLogLog estimate, or linear counting of the empty registers while
// that is the more accurate of the two.
func (r *registers) estimate() int64 {
	var sum float64
	zeros := 0
	for _, x := range r {
		sum += math.Ldexp(1, -int(x))
		if x == 0 {
			zeros++
		}
	}
	m := float64(sketchRegisters)
	est := 0.7213 / (1 + 1.079/m) * m * m / sum
	if est <= 2.5*m && zeros > 0 {
		est = m * math.Log(m/float64(zeros))
	}
	return int64(math.Round(est))
}

// clientUnion counts the distinct clients of several spans: exactly while
// each span holds a set, else with merged registers.
type clientUnion struct {
	set   []uint64
	regs  registers
	dense bool
}

// add merges the clients of one span.
func (u *clientUnion) add(s *sketch) {
	if s.dense {
		u.dense = true
		for i, x := range s.regs {
			u.regs[i] = max(u.regs[i], x)
		}
		return
	}
	for i := range int(s.n) {
		h := s.at(i)
		u.regs.add(h)
		if !u.dense && !slices.Contains(u.set, h) {
			u.set = append(u.set, h)
		}
	}
}

// count returns the number of distinct clients.
func (u *clientUnion) count() int64 {
	if !u.dense {
		return int64(len(u.set))
	}
	return u.regs.estimate()
}

// hashKey is the random key with which a [Store] hashes client addresses,
// so that its sketches say nothing about an address to someone who does
// not hold the key.
type hashKey [2]uint64

// newHashKey returns a random key.
func newHashKey() hashKey {
	var b [16]byte
	rand.Read(b[:]) // never fails
	return hashKey{binary.LittleEndian.Uint64(b[:8]), binary.LittleEndian.Uint64(b[8:])}
}

// hash returns the keyed hash of a client address: FNV-1a from a random
// offset, then the finalizer of MurmurHash3 on the result mixed with the
// second half of the key, which spreads every input bit over the output.
func (k hashKey) hash(addr string) uint64 {
	const prime = 1099511628211
	h := k[0]
	for i := 0; i < len(addr); i++ {
		h ^= uint64(addr[i])
		h *= prime
	}
	h ^= k[1]
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}
