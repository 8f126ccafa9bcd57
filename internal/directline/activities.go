package directline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"

	"github.com/herald/herald/internal/activity"
	"github.com/herald/herald/internal/store"
)

// ActivitySet is what GET /activities answers and each stream frame
// carries: activities in order and the watermark after the last of them
// (a store Seq as a decimal string). A frame of typing activities, which
// are not stored, has no watermark.
type ActivitySet struct {
	Activities []json.RawMessage `json:"activities"`
	Watermark  string            `json:"watermark,omitempty"`
}

// pageSize is how many stored activities one read takes.
const pageSize = 500

// ActivityID is the id of the activity stored at seq in conversation
// conv: "{conv}|{seq, 7 digits}", as the Bot Framework service shapes them.
// The stored JSON has no id: it is set from the Seq when read, so that
// appends from several herald processes need no coordination.
func ActivityID(conv string, seq int64) string {
	return fmt.Sprintf("%s|%07d", conv, seq)
}

// withID returns a stored activity with its id, or nil for the types
// clients never receive.
func withID(conv string, e store.TranscriptEntry) (json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(e.Activity, &m); err != nil {
		return nil, fmt.Errorf("directline: stored activity %d of %s: %w", e.Seq, conv, err)
	}
	var typ string
	_ = json.Unmarshal(m["type"], &typ)
	if typ == activity.TypeConversationUpdate || typ == activity.TypeTyping {
		return nil, nil
	}
	id, _ := json.Marshal(ActivityID(conv, e.Seq))
	m["id"] = id
	return json.Marshal(m)
}

// readSet reads the activities after watermark, one page, as an
// ActivitySet whose watermark is the last Seq read (or the one given); n
// is the number of entries read, last the last Seq.
func (s *Server) readSet(ctx context.Context, conv string, after int64) (set ActivitySet, n int, last int64, err error) {
	entries, err := s.cfg.Transcripts.ReadTranscript(ctx, conv, after, pageSize)
	if err != nil {
		return ActivitySet{}, 0, after, fmt.Errorf("directline: read conversation %s: %w", conv, err)
	}
	set = ActivitySet{Activities: []json.RawMessage{}, Watermark: strconv.FormatInt(after, 10)}
	last = after
	for _, e := range entries {
		raw, err := withID(conv, e)
		if err != nil {
			return ActivitySet{}, 0, after, err
		}
		if raw != nil {
			set.Activities = append(set.Activities, raw)
		}
		last = e.Seq
	}
	set.Watermark = strconv.FormatInt(last, 10)
	s.lastSeq.advance(conv, last)
	return set, len(entries), last, nil
}

// handleGetActivities is GET /conversations/{id}/activities?watermark=.
func (s *Server) handleGetActivities(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, ok := s.authorize(w, r, id); !ok {
		return
	}
	wm, _, ok := watermarkParam(w, r)
	if !ok {
		return
	}
	set, n, _, err := s.readSet(r.Context(), id, wm)
	if err != nil {
		s.internalError(w, err)
		return
	}
	if n == 0 { // nothing new, or no such conversation
		if _, err := s.cfg.Transcripts.Transcript(r.Context(), id); err != nil {
			s.storeError(w, id, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, set)
}

// handlePostActivity is POST /conversations/{id}/activities: the activity
// is stamped, stored (except typing), echoed to the stream with whatever
// the client put in it (channelData.clientActivityID above all), handed to
// the Bot, and its id answered.
func (s *Server) handlePostActivity(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	c, ok := s.authorize(w, r, id)
	if !ok {
		return
	}
	if r.Body == nil {
		r.Body = http.NoBody
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxActivityBytes))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, CodeMessageSizeTooBig, fmt.Sprintf("the activity is larger than %d bytes", s.cfg.MaxActivityBytes))
		return
	case err != nil:
		writeError(w, http.StatusBadRequest, CodeBadArgument, "read the body: "+err.Error())
		return
	}
	// fields keeps every field the client sent, known to herald or not.
	var fields map[string]json.RawMessage
	var a activity.Activity
	if err := json.Unmarshal(data, &fields); err != nil {
		writeError(w, http.StatusBadRequest, CodeBadArgument, "the body must be an activity, a JSON object: "+err.Error())
		return
	}
	if err := json.Unmarshal(data, &a); err != nil {
		writeError(w, http.StatusBadRequest, CodeBadArgument, "the activity is malformed: "+err.Error())
		return
	}
	switch a.Type {
	case "":
		writeError(w, http.StatusBadRequest, CodeBadArgument, `the activity needs a type, such as "message" or "event"`)
		return
	case activity.TypeConversationUpdate:
		writeError(w, http.StatusBadRequest, CodeBadArgument, "clients cannot send conversationUpdate: the conversation's start is announced by POST /conversations")
		return
	}
	from := activity.ChannelAccount{}
	if a.From != nil {
		from = *a.From
	}
	if c.claims.User != "" {
		from.ID = c.claims.User
		if from.Name == "" {
			from.Name = c.claims.UserName
		}
	}
	if from.ID == "" {
		writeError(w, http.StatusBadRequest, CodeBadArgument, `the activity needs from.id, the user's id: {"from":{"id":"..."}}`)
		return
	}
	if from.Role == "" {
		from.Role = "user"
	}
	now := s.now().UTC()
	a.ID, a.Timestamp, a.ChannelID, a.ServiceURL = "", &now, ChannelID, s.baseURL(r)
	a.From, a.Conversation, a.Recipient = &from, &activity.ConversationAccount{ID: id}, s.botAccount()
	delete(fields, "id")
	for k, v := range map[string]any{"timestamp": now, "channelId": ChannelID, "serviceUrl": a.ServiceURL,
		"from": from, "conversation": a.Conversation, "recipient": a.Recipient} {
		fields[k], _ = json.Marshal(v)
	}

	if !s.members.seen(id, from.ID) {
		t, err := s.cfg.Transcripts.Transcript(r.Context(), id)
		if err != nil {
			s.storeError(w, id, err)
			return
		}
		s.members.mark(id, from.ID)
		if t.UserID != from.ID { // a user the bot has not been told of
			s.conversationUpdate(r, c, id, from, false, a.Locale)
		}
	}

	if a.Type == activity.TypeTyping {
		a.ID = id + "|typing-" + randomID(6) // typing is neither stored nor echoed
	} else {
		raw, err := json.Marshal(fields)
		if err != nil {
			s.internalError(w, err)
			return
		}
		seqs, err := s.cfg.Transcripts.AppendTranscript(r.Context(), id, []json.RawMessage{raw}, now)
		if err != nil {
			s.storeError(w, id, err)
			return
		}
		a.ID = ActivityID(id, seqs[0])
		s.lastSeq.advance(id, seqs[0])
		s.hub.notify(id)
	}
	if err := s.callBot(r.Context(), c, from.ID, a); err != nil {
		s.log.Warn("the bot rejected an activity", "conversation", id, "activity", a.ID, "type", a.Type, "error", err)
		writeError(w, http.StatusBadGateway, CodeBotRejectedActivity, "Failed to send activity: bot returned an error")
		return
	}
	writeJSON(w, http.StatusOK, activity.ResourceResponse{ID: a.ID})
}

// Send writes the bot's activities into conversation conversationID, in
// order, and pushes them to its open stream; it returns their ids. Typing
// activities go to open streams only; others are stored and reach clients
// that read later. Each activity gets a timestamp, the conversation, the
// channel id, herald's serviceUrl (PublicURL) when it has none, and the
// bot's account as from when it has none. It is how herald's assistant
// answers and writes proactive messages in-process. A conversation that
// was never started is an error wrapping store.ErrNotFound.
func (s *Server) Send(ctx context.Context, conversationID string, acts ...activity.Activity) ([]string, error) {
	if conversationID == "" {
		return nil, errors.New("directline: Send needs a conversation id")
	}
	for i, a := range acts {
		switch a.Type {
		case "":
			return nil, fmt.Errorf("directline: activity %d has no type", i)
		case activity.TypeConversationUpdate:
			return nil, fmt.Errorf("directline: activity %d: clients never receive conversationUpdate", i)
		}
	}
	ids := make([]string, len(acts))
	var batch []json.RawMessage
	var at []int // index in acts of each batch entry
	now := s.now().UTC()
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		seqs, err := s.cfg.Transcripts.AppendTranscript(ctx, conversationID, batch, now)
		if err != nil {
			return fmt.Errorf("directline: send to conversation %s: %w", conversationID, err)
		}
		for j, seq := range seqs {
			ids[at[j]] = ActivityID(conversationID, seq)
			s.lastSeq.advance(conversationID, seq)
		}
		batch, at = batch[:0], at[:0]
		s.hub.notify(conversationID)
		return nil
	}
	for i, a := range acts {
		a.ID, a.Timestamp, a.ChannelID = "", &now, ChannelID
		a.Conversation = &activity.ConversationAccount{ID: conversationID}
		if a.ServiceURL == "" {
			a.ServiceURL = s.cfg.PublicURL
		}
		if a.From == nil {
			a.From = s.botAccount()
		}
		if a.Type == activity.TypeTyping {
			if err := flush(); err != nil {
				return nil, err
			}
			a.ID = conversationID + "|typing-" + randomID(6)
			raw, err := json.Marshal(a)
			if err != nil {
				return nil, fmt.Errorf("directline: encode activity %d: %w", i, err)
			}
			ids[i] = a.ID
			s.hub.ephemeral(conversationID, raw)
			continue
		}
		raw, err := json.Marshal(a)
		if err != nil {
			return nil, fmt.Errorf("directline: encode activity %d: %w", i, err)
		}
		batch, at = append(batch, raw), append(at, i)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return ids, nil
}

// latestSeq returns the last Seq of conversation id, reading forward from
// the last one this process knows.
func (s *Server) latestSeq(ctx context.Context, id string) (int64, error) {
	last := s.lastSeq.get(id)
	for {
		entries, err := s.cfg.Transcripts.ReadTranscript(ctx, id, last, pageSize)
		if err != nil {
			return 0, fmt.Errorf("directline: read conversation %s: %w", id, err)
		}
		if len(entries) > 0 {
			last = entries[len(entries)-1].Seq
		}
		if len(entries) < pageSize {
			s.lastSeq.advance(id, last)
			return last, nil
		}
	}
}

// maxTracked bounds the per-conversation memos below; past it they start
// afresh, which costs a re-read or a repeated conversationUpdate, never a
// wrong answer.
const maxTracked = 50_000

// seqCache remembers the last Seq seen per conversation, so finding the
// end of a long transcript reads only what was appended since.
type seqCache struct {
	mu sync.Mutex
	m  map[string]int64
}

func newSeqCache() *seqCache { return &seqCache{m: map[string]int64{}} }

func (c *seqCache) get(id string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[id]
}

func (c *seqCache) set(id string, seq int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxTracked {
		clear(c.m)
	}
	c.m[id] = seq
}

func (c *seqCache) advance(id string, seq int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if seq <= c.m[id] {
		return
	}
	if len(c.m) >= maxTracked {
		clear(c.m)
	}
	c.m[id] = seq
}

// members remembers which users the Bot was told joined which
// conversation, in this process.
type members struct {
	mu sync.Mutex
	m  map[string]map[string]struct{}
}

func newMembers() *members { return &members{m: map[string]map[string]struct{}{}} }

func (m *members) seen(conv, user string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.m[conv][user]
	return ok
}

func (m *members) mark(conv, user string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	set := m.m[conv]
	if set == nil {
		if len(m.m) >= maxTracked {
			clear(m.m)
		}
		set = map[string]struct{}{}
		m.m[conv] = set
	}
	set[user] = struct{}{}
}
