package source

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/itchyny/gojq"
)

// Upstream plays an upstream system of a source, for herald produce: it
// sends sample payloads in turn, each optionally changed by a jq program (to
// give each request its own id), and signs every request as the upstream
// system would.
type Upstream struct {
	src     *Source
	samples []json.RawMessage
	decoded []any
	vary    *gojq.Code
	run     string
}

// NewUpstream reads samples (one JSON value, or several in a row as in
// JSONL) for src, which must have been loaded with its secrets. vary, when
// not empty, is a jq program run on each sample with $n (the request's
// sequence number) and $run (run, unique to this run); its value is sent.
func NewUpstream(src *Source, samples []byte, vary, run string) (*Upstream, error) {
	u := &Upstream{src: src, run: run}
	dec := json.NewDecoder(bytes.NewReader(samples))
	dec.UseNumber()
	for {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("sample %d: %w", len(u.samples)+1, malformed(err))
		}
		v, _ := decodePayload(raw)
		u.samples = append(u.samples, raw)
		u.decoded = append(u.decoded, v)
	}
	if len(u.samples) == 0 {
		return nil, errors.New("no sample payload: the file holds no JSON value")
	}
	if vary != "" {
		q, err := gojq.Parse(vary)
		if err != nil {
			return nil, fmt.Errorf("--vary: jq syntax error: %w", err)
		}
		u.vary, err = gojq.Compile(q, gojq.WithEnvironLoader(func() []string { return nil }), gojq.WithVariables([]string{"$n", "$run"}))
		if err != nil {
			return nil, fmt.Errorf("--vary: jq: %w", err)
		}
	}
	return u, nil
}

// Name is the source's name.
func (u *Upstream) Name() string { return u.src.Name() }

// Samples is the number of sample payloads.
func (u *Upstream) Samples() int { return len(u.samples) }

// Payload is the body of request seq: the samples in turn, varied.
func (u *Upstream) Payload(seq int) ([]byte, error) {
	i := seq % len(u.samples)
	if u.vary == nil {
		return u.samples[i], nil
	}
	iter := u.vary.Run(u.decoded[i], seq, u.run)
	v, ok := iter.Next()
	if !ok {
		return nil, errors.New("--vary yielded no value")
	}
	if err, isErr := v.(error); isErr {
		return nil, fmt.Errorf("--vary: jq error: %w", err)
	}
	return gojq.Marshal(v)
}

// Sign sets the upstream system's credentials on h for body at now.
func (u *Upstream) Sign(h http.Header, body []byte, now time.Time) error {
	return u.src.Sign(h, body, now)
}
