package httpapi

import (
	"encoding/json"
	"io"
	"net/http"

	"github.com/herald/herald/internal/activity"
	"github.com/herald/herald/internal/directline"
	"github.com/herald/herald/internal/problem"
	"github.com/herald/herald/internal/store"
)

// conversationView is a stored conversation reference as the API shows it.
type conversationView struct {
	store.ConversationRef
	State string `json:"state"`
}

// listConversations handles GET /v1/users/{userId}/conversations: where
// the person talks to the assistant, active and retired (with the reason).
func (a *API) listConversations(w http.ResponseWriter, r *http.Request) {
	id, ok := userID(w, r)
	if !ok {
		return
	}
	refs, err := a.deps.Store.ListConversationRefs(r.Context(), id)
	if err != nil {
		a.storeError(w, err)
		return
	}
	out := struct {
		Conversations []conversationView `json:"conversations"`
	}{Conversations: make([]conversationView, len(refs))}
	for i, ref := range refs {
		state := "active"
		if ref.RetiredAt != nil {
			state = "retired"
		}
		out.Conversations[i] = conversationView{ConversationRef: ref, State: state}
	}
	writeJSON(w, http.StatusOK, out)
}

// TokenMinter mints Direct Line tokens bound to a person: herald's own
// Direct Line server.
type TokenMinter interface {
	GenerateToken(user activity.ChannelAccount) (directline.Conversation, error)
}

// directLineToken handles POST /v1/users/{userId}/directline/token: a
// token for a new Direct Line conversation of the person, for a page that
// embeds Web Chat (the page's backend calls this with its key). The
// assistant trusts the user a token names, so the conversation is linked to
// the person and notifications reach it.
func (a *API) directLineToken(w http.ResponseWriter, r *http.Request) {
	id, ok := userID(w, r)
	if !ok {
		return
	}
	if a.deps.DirectLine == nil {
		problem.Write(w, problem.NotFound, "Direct Line is not enabled: the conversation channel is not in builtin mode.", nil, 0)
		return
	}
	var body struct {
		Name string `json:"name"`
	}
	if r.ContentLength != 0 {
		if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&body); err != nil {
			problem.Write(w, problem.InvalidRequest, "The body must be a JSON object such as {\"name\":\"Ada\"}: "+err.Error(), nil, 0)
			return
		}
	}
	conv, err := a.deps.DirectLine.GenerateToken(activity.ChannelAccount{ID: id, Name: body.Name})
	if err != nil {
		a.storeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, conv)
}
