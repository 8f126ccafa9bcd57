// Package userimport reads people to import from CSV or JSONL, one record
// at a time with its line number, so that a million rows stream through in
// constant memory and every bad row is reported where it is. It does no I/O
// beyond the reader it is given.
package userimport

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/prefs"
	"github.com/herald/herald/internal/store"
)

// Format is an input format.
type Format string

// The formats Reader understands.
const (
	CSV   Format = "csv"
	JSONL Format = "jsonl"
)

// RowError is a problem with one input line.
type RowError struct {
	Line    int    `json:"line"`
	Field   string `json:"field,omitempty"`
	Problem string `json:"problem"`
}

func (e RowError) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("line %d: %s: %s", e.Line, e.Field, e.Problem)
	}
	return fmt.Sprintf("line %d: %s", e.Line, e.Problem)
}

// Reader yields records from CSV or JSONL.
type Reader struct {
	format Format
	lines  *bufio.Scanner
	csv    *csv.Reader
	header []string
	line   int
}

// CSVColumns are the columns a CSV file may have; id is required. topics
// separates names with ';'. Boolean columns take true/false.
var CSVColumns = []string{"id", "locale", "timeZone", "topics",
	"sendNotificationToConversation", "sendNotificationToMobileDevice", "sendNotificationToWebPush", "sendNotificationToInbox",
	"quietStart", "quietEnd"}

// NewReader reads format from r. A CSV input starts with a header row
// naming its columns (any order, a subset of CSVColumns including id).
func NewReader(r io.Reader, format Format) (*Reader, error) {
	rd := &Reader{format: format}
	switch format {
	case JSONL:
		rd.lines = bufio.NewScanner(r)
		rd.lines.Buffer(make([]byte, 0, 64<<10), 1<<20)
	case CSV:
		rd.csv = csv.NewReader(r)
		rd.csv.FieldsPerRecord = -1
		rd.csv.ReuseRecord = true
		h, err := rd.csv.Read()
		if err != nil {
			return nil, fmt.Errorf("line 1: reading the CSV header: %w", err)
		}
		rd.line = 1
		known := map[string]bool{}
		for _, c := range CSVColumns {
			known[c] = true
		}
		hasID := false
		for _, c := range h {
			c = strings.TrimSpace(c)
			if !known[c] {
				return nil, RowError{Line: 1, Field: c, Problem: "unknown column; columns are " + strings.Join(CSVColumns, ", ")}
			}
			hasID = hasID || c == "id"
			rd.header = append(rd.header, c)
		}
		if !hasID {
			return nil, RowError{Line: 1, Problem: "the header has no id column"}
		}
	default:
		return nil, fmt.Errorf("unknown format %q: use csv or jsonl", format)
	}
	return rd, nil
}

// Next returns the next record and its line. A bad row returns a RowError
// and reading may continue; io.EOF ends the input.
func (r *Reader) Next() (store.UserRecord, int, error) {
	if r.format == JSONL {
		for r.lines.Scan() {
			r.line++
			b := r.lines.Bytes()
			if len(strings.TrimSpace(string(b))) == 0 {
				continue
			}
			rec, err := parseJSON(b, r.line)
			return rec, r.line, err
		}
		if err := r.lines.Err(); err != nil {
			return store.UserRecord{}, r.line + 1, RowError{Line: r.line + 1, Problem: err.Error()}
		}
		return store.UserRecord{}, r.line, io.EOF
	}
	fields, err := r.csv.Read()
	if errors.Is(err, io.EOF) {
		return store.UserRecord{}, r.line, io.EOF
	}
	line, _ := r.csv.FieldPos(0)
	r.line = line
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return store.UserRecord{}, pe.Line, RowError{Line: pe.Line, Problem: pe.Err.Error()}
		}
		return store.UserRecord{}, line, err
	}
	rec, err := r.parseCSV(fields, line)
	return rec, line, err
}

func (r *Reader) parseCSV(fields []string, line int) (store.UserRecord, error) {
	if len(fields) != len(r.header) {
		return store.UserRecord{}, RowError{Line: line, Problem: fmt.Sprintf("has %d fields, the header has %d", len(fields), len(r.header))}
	}
	var rec store.UserRecord
	p := prefs.Default("")
	var qs, qe string
	for i, c := range r.header {
		v := strings.TrimSpace(fields[i])
		boolean := func(dst *bool) error {
			if v == "" {
				return nil
			}
			b, err := strconv.ParseBool(v)
			if err != nil {
				return RowError{Line: line, Field: c, Problem: "must be true or false"}
			}
			*dst = b
			return nil
		}
		var err error
		switch c {
		case "id":
			p.UserID = v
		case "locale":
			p.Locale = v
		case "timeZone":
			if v != "" {
				p.TimeZone = v
			}
		case "topics":
			if v != "" {
				rec.Topics = strings.Split(v, ";")
			}
		case "sendNotificationToConversation":
			err = boolean(&p.SendNotificationToConversation)
		case "sendNotificationToMobileDevice":
			err = boolean(&p.SendNotificationToMobileDevice)
		case "sendNotificationToWebPush":
			err = boolean(&p.SendNotificationToWebPush)
		case "sendNotificationToInbox":
			err = boolean(&p.SendNotificationToInbox)
		case "quietStart":
			qs = v
		case "quietEnd":
			qe = v
		}
		if err != nil {
			return rec, err
		}
	}
	if qs != "" || qe != "" {
		p.QuietHours = &prefs.QuietHours{Start: qs, End: qe}
	}
	rec.Preferences = p
	return rec, check(&rec, line)
}

// jsonRecord is one JSONL line.
type jsonRecord struct {
	ID          string          `json:"id"`
	Locale      string          `json:"locale"`
	TimeZone    string          `json:"timeZone"`
	Topics      []string        `json:"topics"`
	Preferences json.RawMessage `json:"preferences"`
}

func parseJSON(b []byte, line int) (store.UserRecord, error) {
	var j jsonRecord
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return store.UserRecord{}, RowError{Line: line, Problem: "not a JSON object of id, locale, timeZone, topics, preferences: " + err.Error()}
	}
	p := prefs.Default(j.ID)
	if len(j.Preferences) > 0 {
		var errs []event.FieldError
		if p, errs = prefs.Apply(p, j.Preferences, false); len(errs) > 0 {
			return store.UserRecord{}, RowError{Line: line, Field: "preferences." + errs[0].Field, Problem: errs[0].Problem}
		}
	}
	if j.Locale != "" {
		p.Locale = j.Locale
	}
	if j.TimeZone != "" {
		p.TimeZone = j.TimeZone
	}
	rec := store.UserRecord{Preferences: p, Topics: j.Topics}
	return rec, check(&rec, line)
}

// check validates a record, naming the first bad field.
func check(rec *store.UserRecord, line int) error {
	if msg := event.CheckUserID(rec.Preferences.UserID); msg != "" {
		return RowError{Line: line, Field: "id", Problem: msg}
	}
	if errs := rec.Preferences.Validate(); len(errs) > 0 {
		return RowError{Line: line, Field: errs[0].Field, Problem: errs[0].Problem}
	}
	for _, t := range rec.Topics {
		if msg := event.CheckTopic(t); msg != "" {
			return RowError{Line: line, Field: "topics", Problem: msg}
		}
	}
	return nil
}
