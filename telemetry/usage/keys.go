package usage

import (
	"cmp"
	"hash/maphash"
	"slices"
	"strings"
	"unicode/utf8"
)

// keySet names the routes (or the countries) one entity tracks. Each name
// has a slot, and spans count requests by slot. A slot is given to the
// first new key that finds it free, and is free when no span the entity
// keeps has counted it: a key that has gone a whole window without
// requests makes room for another.
type keySet []keySlot

// keySlot is one slot of a keySet.
type keySlot struct {
	name string
	sum  uint32 // keySum(name), compared first
	last int64  // the latest span that counted name
}

// keySeed seeds the sums of keys.
var keySeed = maphash.MakeSeed()

// keySum returns a short hash of key, so that finding a key among many
// seldom compares strings.
func keySum(key string) uint32 {
	return uint32(maphash.String(keySeed, key))
}

// slot returns the slot of key, whose sum is sum, counted in span, or -1
// when all slots are taken by keys counted in span oldest or later.
func (k *keySet) slot(key string, sum uint32, span, oldest int64, maxKeys int) int {
	for i := range *k {
		if ks := &(*k)[i]; ks.sum == sum && ks.name == key {
			ks.last = max(ks.last, span)
			return i
		}
	}

	// Cloned, so that the store does not keep alive a larger string the
	// key may be part of.
	if len(*k) < maxKeys {
		*k = append(*k, keySlot{name: strings.Clone(key), sum: sum, last: span})
		return len(*k) - 1
	}
	for i := range *k {
		if ks := &(*k)[i]; ks.last < oldest {
			*ks = keySlot{name: strings.Clone(key), sum: sum, last: span}
			return i
		}
	}
	return -1
}

// count adds one request to slot in counts, growing counts as needed, or
// to other when slot is -1.
func count(counts []uint32, other uint32, slot int) ([]uint32, uint32) {
	if slot < 0 {
		return counts, addSaturating(other, 1)
	}
	for len(counts) <= slot {
		counts = append(counts, 0)
	}
	counts[slot] = addSaturating(counts[slot], 1)
	return counts, other
}

// Top ranks the routes, or the countries, of a [Summary] by requests.
type Top struct {
	// Keys lists the keys with requests in the window, most requests
	// first, then by key; at most Config.MaxKeys of them.
	Keys []Count `json:"keys"`

	// Other counts the requests whose key was not tracked, because
	// Config.MaxKeys others were. Requests without a key count nowhere.
	Other int64 `json:"other"`
}

// Count is the number of requests of one key.
type Count struct {
	Key      string `json:"key"`
	Requests int64  `json:"requests"`
}

// top returns the ranking of counts by slot of k.
func (k keySet) top(counts []int64, other int64) Top {
	t := Top{Keys: make([]Count, 0, len(k)), Other: other}
	for slot, n := range counts {
		if n > 0 && slot < len(k) {
			t.Keys = append(t.Keys, Count{Key: k[slot].name, Requests: n})
		}
	}
	slices.SortFunc(t.Keys, func(a, b Count) int {
		if c := cmp.Compare(b.Requests, a.Requests); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
	return t
}

// truncate cuts s to at most n bytes, at the start of a character.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
