package httpapi

import (
	"net/http"

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
