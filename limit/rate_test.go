package limit_test

import (
	"testing"
	"time"

	"github.com/mcphub/apigateway/limit"
)

func TestParseRate(t *testing.T) {
	tests := []struct {
		in   string
		want limit.Rate
		str  string
	}{
		{"10-S", limit.Rate{Limit: 10, Period: time.Second}, "10-S"},
		{"600-M", limit.Rate{Limit: 600, Period: time.Minute}, "600-M"},
		{"1000-H", limit.Rate{Limit: 1000, Period: time.Hour}, "1000-H"},
		{"5-D", limit.Rate{Limit: 5, Period: 24 * time.Hour}, "5-D"},
		{"5-d", limit.Rate{Limit: 5, Period: 24 * time.Hour}, "5-D"},
		{"0-M", limit.Rate{Limit: 0, Period: time.Minute}, "0-M"},
		{" 7-S ", limit.Rate{Limit: 7, Period: time.Second}, "7-S"},
		{"unlimited", limit.Unlimited, "unlimited"},
		{"Unlimited", limit.Unlimited, "unlimited"},
	}
	for _, tt := range tests {
		got, err := limit.ParseRate(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseRate(%q): got %+v, %v; want %+v", tt.in, got, err, tt.want)
			continue
		}
		if got.String() != tt.str {
			t.Errorf("ParseRate(%q).String(): got %q, want %q", tt.in, got.String(), tt.str)
		}
	}
}

func TestParseRateErrors(t *testing.T) {
	for _, in := range []string{"", "10", "10-", "-S", "10-W", "ten-S", "-5-S", "10-S-S", "1.5-S",
		"99999999999999999999-S"} {
		if got, err := limit.ParseRate(in); err == nil {
			t.Errorf("ParseRate(%q): got %+v, want an error", in, got)
		}
	}
}

func TestRateStringOtherPeriods(t *testing.T) {
	if got, want := (limit.Rate{Limit: 3, Period: 90 * time.Second}).String(), "3 per 1m30s"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
