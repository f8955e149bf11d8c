package usage_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/mcphub/apigateway/telemetry/usage"
)

// Percentiles are within 12% of the true percentile (by nearest rank)
// between 131µs and 137s, whatever the distribution.
func TestLatencyPercentilesWithinBound(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	tests := []struct {
		name string
		gen  func(i int) time.Duration
	}{
		{"constant", func(int) time.Duration { return 42 * time.Millisecond }},
		{"uniform 1ms to 1s", func(int) time.Duration {
			return time.Millisecond + time.Duration(rng.Int64N(int64(time.Second-time.Millisecond)))
		}},
		{"exponential mean 50ms", func(int) time.Duration {
			return time.Duration(rng.ExpFloat64()*50e6) + 200*time.Microsecond
		}},
		{"log-uniform 150µs to 100s", func(int) time.Duration {
			return time.Duration(150e3 * math.Pow(100/150e-6, rng.Float64()))
		}},
		{"bimodal", func(i int) time.Duration {
			if i%10 == 0 {
				return 3 * time.Second
			}
			return 5 * time.Millisecond
		}},
		{"just over bin edges", func(i int) time.Duration {
			return time.Duration(1<<(17+i%20)) + 1
		}},
		{"just under bin edges", func(i int) time.Duration {
			return time.Duration(1<<(18+i%19)) - 1
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t, usage.Config{}, newClock())
			var all []time.Duration
			for i := range 5000 {
				d := tt.gen(i)
				all = append(all, d)
				s.Record(with(request(), func(e *usage.Event) { e.Duration = d }))
			}
			slices.Sort(all)

			got := mustSummary(t, s.Deployment, "d1").Latency

			for _, c := range []struct {
				name string
				p    float64
				got  time.Duration
			}{{"p50", 0.50, got.P50}, {"p90", 0.90, got.P90}, {"p99", 0.99, got.P99}} {
				want := all[int(math.Ceil(c.p*float64(len(all))))-1]
				if e := relErr(c.got, want); e > 0.12 {
					t.Errorf("%s: got %v, want %v within 12%% (off by %.1f%%)",
						c.name, c.got, want, 100*e)
				}
			}
			if got.Max != all[len(all)-1] {
				t.Errorf("max: got %v, want %v", got.Max, all[len(all)-1])
			}
		})
	}
}

// Outside the binned range, percentiles stay within the durations seen.
func TestLatencyOutsideBins(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		durations []time.Duration
		want      usage.Latency
	}{
		{"all under 131µs", []time.Duration{10 * time.Microsecond, 20 * time.Microsecond},
			usage.Latency{P50: 20 * time.Microsecond, P90: 20 * time.Microsecond,
				P99: 20 * time.Microsecond, Max: 20 * time.Microsecond}},
		{"around 66µs", []time.Duration{50 * time.Microsecond, 100 * time.Microsecond},
			usage.Latency{P50: 65536, P90: 65536, P99: 65536, Max: 100 * time.Microsecond}},
		{"long streams", []time.Duration{10 * time.Minute, time.Hour},
			usage.Latency{P50: time.Hour, P90: time.Hour, P99: time.Hour, Max: time.Hour}},
		{"not measured", []time.Duration{0, -time.Second}, usage.Latency{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t, usage.Config{}, newClock())
			for _, d := range tt.durations {
				s.Record(with(request(), func(e *usage.Event) { e.Duration = d }))
			}

			if got := mustSummary(t, s.Deployment, "d1").Latency; got != tt.want {
				t.Errorf("latency: got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// relErr returns how far got is from want, relative to want.
func relErr(got, want time.Duration) float64 {
	return math.Abs(float64(got-want)) / float64(want)
}
