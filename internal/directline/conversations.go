package directline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/herald/herald/internal/activity"
	"github.com/herald/herald/internal/store"
)

// Conversation is the answer of the token and conversation operations:
// tokens/generate and tokens/refresh fill ConversationID, Token and
// ExpiresIn; starting and reconnecting add StreamURL.
type Conversation struct {
	ConversationID string `json:"conversationId"`
	Token          string `json:"token,omitempty"`
	// ExpiresIn is the token's lifetime in seconds.
	ExpiresIn int `json:"expires_in,omitempty"`
	// StreamURL is the WebSocket to read activities from, authorized by
	// its t= parameter; it replays from its watermark= parameter.
	StreamURL string `json:"streamUrl,omitempty"`
}

// startBody is the optional body of tokens/generate and of starting a
// conversation: {"user":{"id","name"},"locale"}; other fields (such as
// trustedOrigins) are accepted and ignored.
type startBody struct {
	User   activity.ChannelAccount `json:"user"`
	Locale string                  `json:"locale"`
}

// readStartBody parses an optional startBody, writing a 400 when it is not
// JSON.
func (s *Server) readStartBody(w http.ResponseWriter, r *http.Request) (startBody, bool) {
	var b startBody
	if r.Body == nil {
		return b, true
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil {
		writeError(w, http.StatusBadRequest, CodeBadArgument, "read the body: "+err.Error())
		return b, false
	}
	if len(data) == 0 {
		return b, true
	}
	if err := json.Unmarshal(data, &b); err != nil {
		writeError(w, http.StatusBadRequest, CodeBadArgument, `the body must be JSON such as {"user":{"id":"alice","name":"Alice"}}: `+err.Error())
		return b, false
	}
	return b, true
}

// GenerateToken creates a conversation id and returns a token for it, as
// POST /tokens/generate does for the secret holder: herald's own routes
// call it for a person they have authenticated, so that a page can start a
// Web Chat without ever seeing the secret. With user.ID set, the token
// speaks for that user: every activity its bearer posts has from.id forced
// to it, and VerifiedUser reports it to the Bot. The conversation is
// started by the client (POST /conversations with the token).
func (s *Server) GenerateToken(user activity.ChannelAccount) (Conversation, error) {
	id := newConversationID()
	tok, err := s.mint(id, user.ID, user.Name)
	if err != nil {
		return Conversation{}, err
	}
	return Conversation{ConversationID: id, Token: tok, ExpiresIn: s.expiresIn()}, nil
}

// newConversationID returns a random conversation id, URL-safe and free of
// the "|" that separates it from the sequence in activity ids.
func newConversationID() string { return randomID(18) }

// handleGenerate is POST /tokens/generate: secret only.
func (s *Server) handleGenerate(w http.ResponseWriter, r *http.Request) {
	c, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	if !c.secret {
		writeError(w, http.StatusForbidden, CodeForbidden, "generating a token needs the Direct Line secret, not a token")
		return
	}
	b, ok := s.readStartBody(w, r)
	if !ok {
		return
	}
	conv, err := s.GenerateToken(b.User)
	if err != nil {
		s.internalError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, conv)
}

// handleRefresh is POST /tokens/refresh: a valid token gets a new one for
// the same conversation and user.
func (s *Server) handleRefresh(w http.ResponseWriter, r *http.Request) {
	c, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	if c.secret {
		writeError(w, http.StatusBadRequest, CodeBadArgument, "refresh a token, not the secret: the secret does not expire")
		return
	}
	tok, err := s.mint(c.claims.Conversation, c.claims.User, c.claims.UserName)
	if err != nil {
		s.internalError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, Conversation{ConversationID: c.claims.Conversation, Token: tok, ExpiresIn: s.expiresIn()})
}

// handleStart is POST /conversations. The secret starts a new conversation
// (for the body's user, if any); a token starts its own conversation, and
// answers 200 instead of 201 if it has been started already.
func (s *Server) handleStart(w http.ResponseWriter, r *http.Request) {
	c, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	b, ok := s.readStartBody(w, r)
	if !ok {
		return
	}
	var id string
	var user activity.ChannelAccount // who starts it, for conversationUpdate
	var tokenUser activity.ChannelAccount
	if c.secret {
		id = newConversationID()
		user, tokenUser = b.User, b.User
	} else {
		id = c.claims.Conversation
		tokenUser = activity.ChannelAccount{ID: c.claims.User, Name: c.claims.UserName}
		user = tokenUser
		if user.ID == "" {
			user = b.User // the client's word only: not put in the token or the transcript
		}
	}
	created, err := s.start(r, c, id, user, tokenUser.ID, b.Locale)
	if err != nil {
		s.internalError(w, err)
		return
	}
	tok, err := s.mint(id, tokenUser.ID, tokenUser.Name)
	if err != nil {
		s.internalError(w, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	// A new conversation replays from the start so that a greeting the bot
	// sent on conversationUpdate is not lost before the socket opens; so
	// does a restarted one, whose client has no watermark yet.
	writeJSON(w, status, Conversation{ConversationID: id, Token: tok, ExpiresIn: s.expiresIn(), StreamURL: s.streamURL(r, id, tok, 0)})
}

// start creates the transcript of conversation id and tells the Bot with
// a conversationUpdate; created is false if it existed. verifiedUserID is
// stored as the transcript's person.
func (s *Server) start(r *http.Request, c caller, id string, user activity.ChannelAccount, verifiedUserID, locale string) (created bool, err error) {
	err = s.cfg.Transcripts.CreateTranscript(r.Context(), store.Transcript{ID: id, UserID: verifiedUserID, CreatedAt: s.now().UTC()})
	if errors.Is(err, store.ErrConflict) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("directline: start conversation %s: %w", id, err)
	}
	s.lastSeq.set(id, 0)
	if user.ID != "" {
		s.members.mark(id, user.ID)
	}
	s.conversationUpdate(r, c, id, user, true, locale)
	return true, nil
}

// conversationUpdate tells the Bot that members joined conversation id:
// the bot itself when withBot (at start), and user when known. It is not
// stored: clients never receive conversationUpdate. A Bot error is logged;
// the client's request goes on.
func (s *Server) conversationUpdate(r *http.Request, c caller, id string, user activity.ChannelAccount, withBot bool, locale string) {
	var added []activity.ChannelAccount
	if withBot {
		added = append(added, s.cfg.BotAccount)
	}
	from := s.cfg.BotAccount
	if user.ID != "" {
		user.Role = "user"
		added = append(added, user)
		from = user
	}
	now := s.now().UTC()
	a := activity.Activity{
		Type: activity.TypeConversationUpdate, ID: id + "|cu-" + randomID(6), Timestamp: &now,
		ServiceURL: s.baseURL(r), ChannelID: ChannelID, From: &from,
		Conversation: &activity.ConversationAccount{ID: id}, Recipient: s.botAccount(),
		MembersAdded: added, Locale: locale,
	}
	if err := s.callBot(r.Context(), c, user.ID, a); err != nil {
		s.log.Warn("the bot failed on conversationUpdate", "conversation", id, "error", err)
	}
}

// botAccount returns a copy of the bot's account.
func (s *Server) botAccount() *activity.ChannelAccount {
	b := s.cfg.BotAccount
	return &b
}

// callBot hands a to the Bot with the verified user in the context,
// bounded by BotTimeout and not cancelled when the client goes away.
func (s *Server) callBot(ctx context.Context, c caller, fromID string, a activity.Activity) error {
	ctx, cancel := context.WithTimeout(withVerifiedUser(context.WithoutCancel(ctx), c, fromID), s.cfg.BotTimeout)
	defer cancel()
	return s.cfg.Bot.OnActivity(ctx, a)
}

// handleReconnect is GET /conversations/{id}?watermark=: a new streamUrl
// (and token) for an open conversation. The stream replays from the
// watermark; without one, from the current end.
func (s *Server) handleReconnect(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	c, ok := s.authorize(w, r, id)
	if !ok {
		return
	}
	wm, ok := s.resumePoint(w, r, id)
	if !ok {
		return
	}
	tok, err := s.mint(id, c.claims.User, c.claims.UserName)
	if err != nil {
		s.internalError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, Conversation{ConversationID: id, Token: tok, ExpiresIn: s.expiresIn(), StreamURL: s.streamURL(r, id, tok, wm)})
}

// handleSessionID is GET /session/getsessionid, which Web Chat calls only
// for OAuth sign-in cards, a Bot Framework token service feature herald
// does not have. Clients treat the failure as "no session id".
func (s *Server) handleSessionID(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.authenticate(w, r); !ok {
		return
	}
	writeError(w, http.StatusNotImplemented, CodeNotImplemented, "herald's Direct Line has no session ids: it offers no OAuth sign-in through the Bot Framework token service")
}

// handleUpload is POST /conversations/{id}/upload, not offered: 501.
func (s *Server) handleUpload(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.authorize(w, r, r.PathValue("id")); !ok {
		return
	}
	writeError(w, http.StatusNotImplemented, CodeNotImplemented, "herald's Direct Line does not accept file uploads; send attachments by contentUrl in a posted activity")
}

// resumePoint is where a stream of conversation id starts: after
// ?watermark= when given, else at the current end. It answers the error
// itself for a bad watermark or a conversation that does not exist.
func (s *Server) resumePoint(w http.ResponseWriter, r *http.Request, id string) (int64, bool) {
	wm, given, ok := watermarkParam(w, r)
	if !ok {
		return 0, false
	}
	if _, err := s.cfg.Transcripts.Transcript(r.Context(), id); err != nil {
		s.storeError(w, id, err)
		return 0, false
	}
	if !given {
		var err error
		if wm, err = s.latestSeq(r.Context(), id); err != nil {
			s.internalError(w, err)
			return 0, false
		}
	}
	return wm, true
}

// watermarkParam parses ?watermark=, a Seq; absent or empty -> given false.
func watermarkParam(w http.ResponseWriter, r *http.Request) (wm int64, given, ok bool) {
	v := r.URL.Query().Get("watermark")
	if v == "" {
		return 0, false, true
	}
	wm, err := strconv.ParseInt(v, 10, 64)
	if err != nil || wm < 0 {
		writeError(w, http.StatusBadRequest, CodeBadArgument, fmt.Sprintf("watermark %q is not one this server gave: use the watermark of the last activity set you received", v))
		return 0, false, false
	}
	return wm, true, true
}

// storeError answers a failed conversation look-up: 404 or 500.
func (s *Server) storeError(w http.ResponseWriter, id string, err error) {
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, CodeNotFound, fmt.Sprintf("conversation %s does not exist or has not been started: POST /v3/directline/conversations first", id))
		return
	}
	s.internalError(w, err)
}

// internalError logs err and answers 500.
func (s *Server) internalError(w http.ResponseWriter, err error) {
	s.log.Error("direct line request failed", "error", err)
	writeError(w, http.StatusInternalServerError, CodeServiceError, "herald could not complete the request; try again")
}
