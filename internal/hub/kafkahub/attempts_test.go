package kafkahub

import (
	"slices"
	"strings"
	"testing"
)

func TestCountsRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   counts
		meta string
	}{
		{"none", nil, "herald:v1:"},
		{"one run", counts{{9, 1}}, "herald:v1:9:1"},
		{"falling", counts{{4, 3}, {9, 2}, {29, 1}}, "herald:v1:4:3,9:2,29:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.in.encode(); got != tt.meta {
				t.Errorf("encode = %q, want %q", got, tt.meta)
			}
			if got := decodeCounts(tt.meta); !slices.Equal(got, tt.in) {
				t.Errorf("decode(%q) = %v, want %v", tt.meta, got, tt.in)
			}
		})
	}
}

func TestDecodeCountsIgnoresForeignMetadata(t *testing.T) {
	t.Parallel()
	for _, meta := range []string{"", "kgo-member-id-123", "herald:v1:x:1", "herald:v1:9:1,5:1", "herald:v1:9:1,12:2", "herald:v1:9:0"} {
		if got := decodeCounts(meta); got != nil {
			t.Errorf("decode(%q) = %v, want nil", meta, got)
		}
	}
}

func TestCountsAt(t *testing.T) {
	t.Parallel()
	c := counts{{4, 3}, {9, 2}, {29, 1}}
	for _, tt := range []struct {
		offset int64
		want   int
	}{{0, 3}, {4, 3}, {5, 2}, {9, 2}, {10, 1}, {29, 1}, {30, 0}} {
		if got := c.at(tt.offset); got != tt.want {
			t.Errorf("at(%d) = %d, want %d", tt.offset, got, tt.want)
		}
	}
}

func TestCountsPicked(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		prior         counts
		from, through int64
		want          counts
	}{
		{"first handout", nil, 0, 9, counts{{9, 1}}},
		{"nothing picked past the commit", counts{{9, 1}}, 5, 4, counts{{9, 1}}},
		{"redelivery of part", counts{{9, 1}}, 5, 7, counts{{7, 2}, {9, 1}}},
		{"redelivery of all and more", counts{{9, 1}}, 5, 20, counts{{9, 2}, {20, 1}}},
		{"commit moved past old runs", counts{{4, 2}, {9, 1}}, 6, 8, counts{{8, 2}, {9, 1}}},
		{"exactly to a run's end", counts{{4, 2}, {9, 1}}, 0, 4, counts{{4, 3}, {9, 1}}},
		{"nothing picked, nothing known", nil, 3, -1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.prior.picked(tt.from, tt.through); !slices.Equal(got, tt.want) {
				t.Errorf("%v.picked(%d, %d) = %v, want %v", tt.prior, tt.from, tt.through, got, tt.want)
			}
		})
	}
}

func TestCountsEncodeIsBounded(t *testing.T) {
	t.Parallel()
	var c counts
	for i := range 1000 {
		c = append(c, countRun{last: int64(i), n: 1000 - i})
	}
	meta := c.encode()
	if len(meta) > 4096 {
		t.Errorf("metadata of %d bytes, over the broker default of 4096", len(meta))
	}
	if got := decodeCounts(meta); len(got) != maxCountRuns || got[0] != c[0] {
		t.Errorf("decoded %d runs starting %v, want the first %d", len(got), got[0], maxCountRuns)
	}
	if !strings.HasPrefix(meta, countsPrefix) {
		t.Errorf("metadata %q lacks the prefix", meta[:20])
	}
}
