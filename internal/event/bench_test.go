package event

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkParseBatch parses a batch of 100 single-user events shaped like
// the load generator's, the hot path of HTTP ingest.
func BenchmarkParseBatch(b *testing.B) {
	var sb strings.Builder
	sb.WriteByte('[')
	for i := range 100 {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(`{"specversion":"1.0","id":"t-` + strconv.Itoa(i) + `","source":"bench","type":"herald.loadtest",` +
			`"data":{"audience":{"users":["u` + strconv.Itoa(i) + `"]},"notification":{"title":"Load test",` +
			`"message":"Synthetic notification ` + strconv.Itoa(i) + `","category":"loadtest"}}}`)
	}
	sb.WriteByte(']')
	body := []byte(sb.String())
	now := time.Now()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseBatch(body, 1000, now); err != nil {
			b.Fatal(err)
		}
	}
}
