package assistant

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/herald/herald/internal/activity"
	"github.com/herald/herald/internal/bfauth"
	"github.com/herald/herald/internal/channel/conversation"
	"github.com/herald/herald/internal/store"
)

// Config configures the assistant.
type Config struct {
	// Validator authenticates POST /api/messages; required for ServeHTTP.
	Validator *bfauth.Validator
	// Store holds conversation references and the inbox the dialogs read.
	Store store.Store
	// Sender delivers the assistant's replies.
	Sender conversation.Sender
	// Dialogs maps a notification category to its dialog; Default serves
	// the others (nil means DefaultDialog).
	Dialogs map[string]Dialog
	Default Dialog
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Log receives what the assistant did; nil discards it.
	Log *slog.Logger
}

// Assistant is the built-in bot.
type Assistant struct {
	cfg Config
	log *slog.Logger
}

// New returns an assistant.
func New(cfg Config) (*Assistant, error) {
	if cfg.Store == nil || cfg.Sender == nil {
		return nil, errors.New("assistant: a store and a sender are required")
	}
	if cfg.Default == nil {
		cfg.Default = DefaultDialog{}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Assistant{cfg: cfg, log: log.With("component", "assistant")}, nil
}

// maxActivityBytes bounds an inbound activity.
const maxActivityBytes = 256 << 10

// ServeHTTP is POST /api/messages: it authenticates the channel's token,
// then handles the activity. 401 and 403 follow the Bot Framework's rules.
func (a *Assistant) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "use POST")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxActivityBytes))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "TooLarge", fmt.Sprintf("an activity may have at most %d bytes", maxActivityBytes))
		return
	}
	var act activity.Activity
	if err := json.Unmarshal(body, &act); err != nil {
		writeError(w, http.StatusBadRequest, "BadSyntax", "the body is not an activity: "+err.Error())
		return
	}
	if a.cfg.Validator == nil {
		writeError(w, http.StatusUnauthorized, "Unauthorized", "no validator configured")
		return
	}
	if _, err := a.cfg.Validator.Validate(r.Context(), r.Header.Get("Authorization"), act.ChannelID, act.ServiceURL); err != nil {
		status, code := http.StatusUnauthorized, "Unauthorized"
		if errors.Is(err, bfauth.ErrForbidden) {
			status, code = http.StatusForbidden, "Forbidden"
		}
		a.log.Warn("inbound activity refused", "channel_id", act.ChannelID, "err", err)
		writeError(w, status, code, err.Error())
		return
	}
	if act.Type == "" || act.ChannelID == "" || act.ServiceURL == "" || act.Conversation == nil || act.Conversation.ID == "" {
		writeError(w, http.StatusBadRequest, "BadArgument", "an activity needs type, channelId, serviceUrl and conversation.id")
		return
	}
	if err := a.OnActivity(r.Context(), act); err != nil {
		a.log.Error("handling an activity failed", "type", act.Type, "channel_id", act.ChannelID, "err", err)
		writeError(w, http.StatusInternalServerError, "InternalError", "the assistant could not handle the activity")
		return
	}
	w.WriteHeader(http.StatusOK)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	var er activity.ErrorResponse
	er.Error.Code, er.Error.Message = code, msg
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(er)
}

// UserID is the herald user an account stands for: in Teams the Entra
// object id when the channel gives it, elsewhere the account id (in herald's
// Direct Line, the user the token was issued to).
func UserID(channelID string, acc *activity.ChannelAccount) string {
	if acc == nil {
		return ""
	}
	if channelID == "msteams" && acc.AADObjectID != "" {
		return acc.AADObjectID
	}
	return acc.ID
}

// OnActivity handles an activity that is already authenticated and whose
// sender is vouched for, so its conversation is remembered for the person.
func (a *Assistant) OnActivity(ctx context.Context, act activity.Activity) error {
	return a.Handle(ctx, act, true)
}

// Handle handles an authenticated activity. With verified false (a Direct
// Line client whose token names no user, so from.id is only a claim) the
// assistant neither stores a conversation reference nor reads the claimed
// person's notifications: otherwise anyone could have another person's
// notifications sent to them or read them. It says so instead.
func (a *Assistant) Handle(ctx context.Context, act activity.Activity, verified bool) error {
	if !verified {
		ref := a.reference(act, act.From)
		if act.Type != activity.TypeMessage || ref.UserID == "" {
			return nil
		}
		return a.reply(ctx, act, ref, say("I can't tell who you are in this conversation, so I can't talk about your notifications. "+
			"Open the chat from herald's notification center, which signs you in."))
	}
	switch act.Type {
	case activity.TypeConversationUpdate:
		for _, m := range act.MembersAdded {
			if act.Recipient != nil && m.ID == act.Recipient.ID {
				continue // the bot itself
			}
			mm := m
			if _, err := a.remember(ctx, act, &mm); err != nil {
				return err
			}
		}
		for _, m := range act.MembersRemoved {
			if act.Recipient != nil && m.ID == act.Recipient.ID {
				return a.forget(ctx, act, "the bot was removed from the conversation")
			}
		}
		return nil
	case activity.TypeInstallationUpdate:
		if strings.HasPrefix(act.Action, "remove") {
			return a.forget(ctx, act, "the app was uninstalled")
		}
		_, err := a.remember(ctx, act, act.From)
		return err
	case activity.TypeMessage, activity.TypeEvent, activity.TypeInvoke:
		ref, err := a.remember(ctx, act, act.From)
		if err != nil || ref.UserID == "" {
			return err
		}
		return a.converse(ctx, act, ref)
	default:
		return nil // receivers must accept unknown activity types
	}
}

// remember stores the reference to act's conversation with person.
func (a *Assistant) remember(ctx context.Context, act activity.Activity, person *activity.ChannelAccount) (store.ConversationRef, error) {
	r := a.reference(act, person)
	if r.UserID == "" {
		return r, nil
	}
	saved, err := a.cfg.Store.SaveConversationRef(ctx, r)
	if err != nil {
		return store.ConversationRef{}, fmt.Errorf("assistant: remember the conversation: %w", err)
	}
	return saved, nil
}

// reference is the conversation reference of act with person; its UserID
// is "" when the activity names no person or conversation.
func (a *Assistant) reference(act activity.Activity, person *activity.ChannelAccount) store.ConversationRef {
	user := UserID(act.ChannelID, person)
	if user == "" || act.Conversation == nil || act.Conversation.ID == "" || act.ServiceURL == "" {
		return store.ConversationRef{}
	}
	r := store.ConversationRef{UserID: user, ChannelID: act.ChannelID, ConversationID: act.Conversation.ID,
		ServiceURL: act.ServiceURL, TenantID: act.TenantID(), AccountID: person.ID, AccountName: person.Name,
		Locale: act.Locale, UpdatedAt: a.cfg.Now()}
	if act.Recipient != nil {
		r.BotID, r.BotName = act.Recipient.ID, act.Recipient.Name
	}
	return r
}

// forget retires the reference of act's conversation.
func (a *Assistant) forget(ctx context.Context, act activity.Activity, reason string) error {
	user := UserID(act.ChannelID, act.From)
	if user == "" || act.Conversation == nil {
		return nil
	}
	id := store.ConversationRefID(act.ChannelID, user, act.Conversation.ID)
	err := a.cfg.Store.RetireConversationRef(ctx, id, reason, a.cfg.Now())
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

// reply sends acts into act's conversation as answers to it.
func (a *Assistant) reply(ctx context.Context, act activity.Activity, ref store.ConversationRef, acts []activity.Activity) error {
	for _, r := range acts {
		r.ChannelID, r.ServiceURL, r.ReplyToID = act.ChannelID, act.ServiceURL, act.ID
		r.Conversation = act.Conversation
		r.From, r.Recipient = act.Recipient, act.From
		if r.Locale == "" {
			r.Locale = act.Locale
		}
		if _, err := a.cfg.Sender.Send(ctx, ref, r); err != nil {
			return fmt.Errorf("assistant: reply: %w", err)
		}
	}
	return nil
}
