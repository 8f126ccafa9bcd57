package kafkahub

import (
	"strconv"
	"strings"
)

// Kafka keeps one committed offset per partition and group, so a record
// read again after a consumer went away cannot say it was read before. The
// driver counts such deliveries itself in the metadata string of its offset
// commits: before handing records to the handler it commits the unchanged
// offset with metadata saying which offsets from the committed one on have
// been handed out how often. The next owner of the partition reads the
// metadata when the group assigns it the partition (kgo.OnOffsetsFetched)
// and adds the count to each record's Attempt.
//
// Counts never grow with the offset: records are handed out in offset order,
// so the metadata is a short list of runs, "herald:v1:<last>:<count>,..."
// where each run covers the offsets after the previous run's last (from the
// committed offset for the first) through <last>.

// countsPrefix marks commit metadata written by this driver.
const countsPrefix = "herald:v1:"

// maxCountRuns bounds the metadata (brokers refuse more than
// offset.metadata.max.bytes, 4096 by default). Runs past it are dropped:
// their records are then counted too low, never too high.
const maxCountRuns = 64

// countRun says the offsets up to last were delivered n times.
type countRun struct {
	last int64
	n    int
}

// counts is how often records from the committed offset on were delivered
// before, as runs with growing last and falling n.
type counts []countRun

// at is how often the record at offset was delivered before.
func (c counts) at(offset int64) int {
	for _, r := range c {
		if offset <= r.last {
			return r.n
		}
	}
	return 0
}

// after is the part of c beyond offset.
func (c counts) after(offset int64) counts {
	for i, r := range c {
		if r.last > offset {
			return c[i:]
		}
	}
	return nil
}

// picked is the counts from offset from on once the records up to through
// were handed out once more: c plus one up to through.
func (c counts) picked(from, through int64) counts {
	var out counts
	if through >= from {
		for _, r := range c {
			if r.last < from {
				continue
			}
			out = out.add(min(r.last, through), r.n+1)
			if r.last >= through {
				break
			}
		}
		if k := len(out); k == 0 || out[k-1].last < through {
			out = out.add(through, 1)
		}
	}
	for _, r := range c {
		if r.last >= from && r.last > through {
			out = out.add(r.last, r.n)
		}
	}
	return out
}

// add appends that the record at offset was delivered n times, merging it
// into the last run when the count is the same. Zero counts end the list.
func (c counts) add(offset int64, n int) counts {
	if n <= 0 {
		return c
	}
	if k := len(c); k > 0 && c[k-1].n == n {
		c[k-1].last = max(c[k-1].last, offset)
		return c
	}
	if k := len(c); k > 0 && (offset <= c[k-1].last || n > c[k-1].n) {
		return c // not monotone: keep what is known, never count too high
	}
	return append(c, countRun{last: offset, n: n})
}

// encode is the commit metadata of c.
func (c counts) encode() string {
	if len(c) > maxCountRuns {
		c = c[:maxCountRuns]
	}
	var b strings.Builder
	b.WriteString(countsPrefix)
	for i, r := range c {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(r.last, 10))
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(r.n))
	}
	return b.String()
}

// decodeCounts reads commit metadata written by encode. Metadata of anybody
// else (kgo writes its member id, other tools their own) means no counts.
func decodeCounts(meta string) counts {
	rest, ok := strings.CutPrefix(meta, countsPrefix)
	if !ok || rest == "" {
		return nil
	}
	var c counts
	for run := range strings.SplitSeq(rest, ",") {
		l, n, ok := strings.Cut(run, ":")
		if !ok {
			return nil
		}
		last, err1 := strconv.ParseInt(l, 10, 64)
		cnt, err2 := strconv.Atoi(n)
		if err1 != nil || err2 != nil || cnt <= 0 {
			return nil
		}
		if k := len(c); k > 0 && (last <= c[k-1].last || cnt > c[k-1].n) {
			return nil
		}
		c = append(c, countRun{last: last, n: cnt})
	}
	return c
}
