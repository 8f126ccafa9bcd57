package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/problem"
	"github.com/herald/herald/internal/store"
)

// maxMembersPerRequest bounds one membership change; import files are the
// way to load more.
const maxMembersPerRequest = 10000

// topicName reads and checks the {name} path value.
func topicName(w http.ResponseWriter, r *http.Request) (string, bool) {
	name := r.PathValue("name")
	if msg := event.CheckTopic(name); msg != "" {
		problem.Write(w, problem.InvalidRequest, "", []event.FieldError{{Index: -1, Field: "name", Problem: msg}}, 0)
		return "", false
	}
	return name, true
}

func (a *API) listTopics(w http.ResponseWriter, r *http.Request) {
	topics, err := a.deps.Store.Topics(r.Context())
	if err != nil {
		a.storeError(w, err)
		return
	}
	if topics == nil {
		topics = []store.Topic{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"topics": topics})
}

func (a *API) createTopic(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Name        string `json:"name"`
		Description string `json:"description"`
	}
	if !decodeBody(w, r, 16<<10, &body) {
		return
	}
	if msg := event.CheckTopic(body.Name); msg != "" {
		problem.Write(w, problem.InvalidRequest, "", []event.FieldError{{Index: -1, Field: "name", Problem: msg}}, 0)
		return
	}
	t, err := a.deps.Store.CreateTopic(r.Context(), body.Name, body.Description)
	if errors.Is(err, store.ErrConflict) {
		problem.Write(w, problem.Conflict, "Topic "+body.Name+" exists.", nil, 0)
		return
	}
	if err != nil {
		a.storeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, t)
}

func (a *API) getTopic(w http.ResponseWriter, r *http.Request) {
	name, ok := topicName(w, r)
	if !ok {
		return
	}
	t, err := a.deps.Store.Topic(r.Context(), name)
	if err != nil {
		a.storeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}

func (a *API) deleteTopic(w http.ResponseWriter, r *http.Request) {
	name, ok := topicName(w, r)
	if !ok {
		return
	}
	if err := a.deps.Store.DeleteTopic(r.Context(), name); err != nil {
		a.storeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// listMembers pages through a topic's members in id order: ?after=ID&limit=N.
func (a *API) listMembers(w http.ResponseWriter, r *http.Request) {
	name, ok := topicName(w, r)
	if !ok {
		return
	}
	limit := 1000
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			problem.Write(w, problem.InvalidRequest, "", []event.FieldError{{Index: -1, Field: "limit", Problem: "must be a whole number from 1 to 10000"}}, 0)
			return
		}
		limit = n
	}
	if _, err := a.deps.Store.Topic(r.Context(), name); err != nil {
		a.storeError(w, err)
		return
	}
	members, err := a.deps.Store.Members(r.Context(), name, r.URL.Query().Get("after"), limit)
	if err != nil {
		a.storeError(w, err)
		return
	}
	page := map[string]any{"members": members}
	if members == nil {
		page["members"] = []string{}
	}
	if len(members) == limit {
		page["next"] = members[len(members)-1]
	}
	writeJSON(w, http.StatusOK, page)
}

// changeMembers adds (POST) or removes (DELETE) {"users": [...]}.
func (a *API) changeMembers(w http.ResponseWriter, r *http.Request) {
	name, ok := topicName(w, r)
	if !ok {
		return
	}
	var body struct {
		Users []string `json:"users"`
	}
	if !decodeBody(w, r, 4<<20, &body) {
		return
	}
	var fields []event.FieldError
	if len(body.Users) == 0 || len(body.Users) > maxMembersPerRequest {
		fields = append(fields, event.FieldError{Index: -1, Field: "users", Problem: fmt.Sprintf("give 1 to %d user ids", maxMembersPerRequest)})
	}
	for i, u := range body.Users {
		if msg := event.CheckUserID(u); msg != "" {
			fields = append(fields, event.FieldError{Index: -1, Field: fmt.Sprintf("users[%d]", i), Problem: msg})
		}
	}
	if len(fields) > 0 {
		problem.Write(w, problem.InvalidRequest, "Nothing was changed.", fields, 0)
		return
	}
	var n int
	var err error
	if r.Method == http.MethodDelete {
		n, err = a.deps.Store.RemoveMembers(r.Context(), name, body.Users)
	} else {
		n, err = a.deps.Store.AddMembers(r.Context(), name, body.Users)
	}
	if err != nil {
		a.storeError(w, err)
		return
	}
	key := "added"
	if r.Method == http.MethodDelete {
		key = "removed"
	}
	writeJSON(w, http.StatusOK, map[string]int{key: n})
}

// decodeBody reads a JSON body of at most max bytes into v, answering the
// problem itself when it cannot.
func decodeBody(w http.ResponseWriter, r *http.Request, max int64, v any) bool {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err != nil {
		problem.Write(w, problem.PayloadTooLarge, fmt.Sprintf("The body is larger than %d bytes.", max), nil, 0)
		return false
	}
	if err := json.Unmarshal(data, v); err != nil {
		problem.Write(w, problem.InvalidRequest, "The body is not the expected JSON: "+err.Error(), nil, 0)
		return false
	}
	return true
}
