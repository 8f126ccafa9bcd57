package httpapi

import (
	"net/http"

	"github.com/herald/herald/internal/ingest"
)

// ingestEvents hands POST /v1/events to ingest, naming the API key that
// sent it so that ingest applies the key's event rate (--key-rate). Ingest
// also refuses events with 429 while the handler is too far behind
// (--max-lag); the draining process's 503 comes first, in authorize.
func (a *API) ingestEvents(w http.ResponseWriter, r *http.Request) {
	a.deps.Ingest.ServeHTTP(w, r.WithContext(ingest.WithRateKey(r.Context(), principalFrom(r).KeyID)))
}
