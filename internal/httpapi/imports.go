package httpapi

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"

	"github.com/herald/herald/internal/problem"
	"github.com/herald/herald/internal/store"
	"github.com/herald/herald/internal/userimport"
)

// importChunk is how many people one import transaction stores.
const importChunk = 5000

// maxImportErrors bounds the row errors listed in an answer; the counts
// stay exact.
const maxImportErrors = 1000

// importResult is the answer of POST /v1/users:import.
type importResult struct {
	Imported int                   `json:"imported"`
	Failed   int                   `json:"failed"`
	Errors   []userimport.RowError `json:"errors"`
	// Complete is false when the import stopped early (a store failure or
	// an unreadable body): the rows counted as imported are stored, the
	// rest of the input was not read.
	Complete bool   `json:"complete"`
	Stopped  string `json:"stopped,omitempty"`
}

// importUsers streams a CSV (text/csv) or JSONL (application/x-ndjson)
// body into the store in chunks. Bad rows are skipped and listed with their
// line numbers; good rows are stored; the answer says exactly which.
func (a *API) importUsers(w http.ResponseWriter, r *http.Request) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var format userimport.Format
	switch mt {
	case "text/csv":
		format = userimport.CSV
	case "application/x-ndjson", "application/jsonl", "application/json-seq":
		format = userimport.JSONL
	default:
		problem.Write(w, problem.UnsupportedMedia, "Send text/csv (with a header row) or application/x-ndjson (one JSON object per line).", nil, 0)
		return
	}
	rd, err := userimport.NewReader(r.Body, format)
	if err != nil {
		var re userimport.RowError
		if errors.As(err, &re) {
			writeJSON(w, http.StatusBadRequest, importResult{Failed: 1, Errors: []userimport.RowError{re}, Stopped: re.Error()})
			return
		}
		problem.Write(w, problem.InvalidRequest, err.Error(), nil, 0)
		return
	}
	var res importResult
	chunk := make([]store.UserRecord, 0, importChunk)
	flush := func() error {
		if len(chunk) == 0 {
			return nil
		}
		if err := a.deps.Store.ImportUsers(r.Context(), chunk); err != nil {
			return err
		}
		res.Imported += len(chunk)
		chunk = chunk[:0]
		return nil
	}
	for {
		rec, line, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		var re userimport.RowError
		if errors.As(err, &re) {
			res.Failed++
			if len(res.Errors) < maxImportErrors {
				res.Errors = append(res.Errors, re)
			}
			continue
		}
		if err != nil {
			res.Stopped = "reading the body stopped at line " + strconv.Itoa(line) + ": " + err.Error()
			_ = flush()
			writeJSON(w, http.StatusBadRequest, res)
			return
		}
		chunk = append(chunk, rec)
		if len(chunk) == importChunk {
			if err := flush(); err != nil {
				a.log.Error("import failed", "err", err)
				res.Stopped = "the store failed after " + strconv.Itoa(res.Imported) + " rows; the rows read since (up to line " + strconv.Itoa(line) + ") were not stored and the rest was not read"
				writeJSON(w, http.StatusServiceUnavailable, res)
				return
			}
		}
	}
	if err := flush(); err != nil {
		res.Stopped = "the store failed after " + strconv.Itoa(res.Imported) + " rows; the last rows were not stored"
		writeJSON(w, http.StatusServiceUnavailable, res)
		return
	}
	res.Complete = true
	if res.Errors == nil {
		res.Errors = []userimport.RowError{}
	}
	status := http.StatusOK
	if res.Failed > 0 {
		status = http.StatusMultiStatus
	}
	writeJSON(w, status, res)
}
