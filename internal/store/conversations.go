package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// ConversationRef is a stored Bot Framework conversation reference: where a
// person talks to the assistant (a Teams chat, a Web Chat through herald's
// own Direct Line, any Bot Framework channel), so that a notification can be
// sent into that conversation later. A person may have several. The channel
// refreshes ServiceURL from every inbound activity; a conversation the bot
// can no longer write to (403, 404) is retired with the reason and kept, so
// the person's list shows why messages stopped.
type ConversationRef struct {
	// ID is ConversationRefID(ChannelID, UserID, ConversationID).
	ID     string `json:"id"`
	UserID string `json:"userId"`
	// ChannelID is the Bot Framework channel: msteams, directline, webchat...
	ChannelID      string `json:"channelId"`
	ConversationID string `json:"conversationId"`
	// ServiceURL is the base URL of the channel's Connector API, verified
	// by the inbound token.
	ServiceURL string `json:"serviceUrl"`
	// TenantID is the Teams (Entra) tenant, "" elsewhere.
	TenantID string `json:"tenantId,omitempty"`
	// AccountID and AccountName are the person's ChannelAccount on the
	// channel (in Teams "29:..."); BotID and BotName the bot's.
	AccountID   string     `json:"accountId,omitempty"`
	AccountName string     `json:"accountName,omitempty"`
	BotID       string     `json:"botId,omitempty"`
	BotName     string     `json:"botName,omitempty"`
	Locale      string     `json:"locale,omitempty"`
	CreatedAt   time.Time  `json:"createdAt"`
	UpdatedAt   time.Time  `json:"updatedAt"`
	RetiredAt   *time.Time `json:"retiredAt,omitempty"`
	// RetiredReason is why the channel refused the bot, such as
	// "403 MessageWritesBlocked".
	RetiredReason string `json:"retiredReason,omitempty"`
}

// ConversationRefID derives a reference's id from (channel, user,
// conversation): the first 16 bytes of their SHA-256, in hex.
func ConversationRefID(channelID, userID, conversationID string) string {
	return DeviceID(Platform("conv\x00"+channelID), userID+"\x00"+conversationID)
}

// PrepareConversationRef checks r before a driver saves it and fills in
// what may be left empty: ID (ConversationRefID), UpdatedAt (now) and
// CreatedAt (UpdatedAt). User, channel, conversation and service URL are
// required.
func PrepareConversationRef(r ConversationRef) (ConversationRef, error) {
	if r.UserID == "" || r.ChannelID == "" || r.ConversationID == "" || r.ServiceURL == "" {
		return ConversationRef{}, errors.New("user, channel, conversation and service URL are required")
	}
	if r.ID == "" {
		r.ID = ConversationRefID(r.ChannelID, r.UserID, r.ConversationID)
	}
	if r.UpdatedAt.IsZero() {
		r.UpdatedAt = time.Now().UTC()
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = r.UpdatedAt
	}
	return r, nil
}

// Conversations stores conversation references. Deliveries into a
// conversation are recorded with MarkDeviceDelivered, the reference id in
// place of a device id, so a retried delivery is sent once.
type Conversations interface {
	// SaveConversationRef stores r under its ID (derived when empty) and
	// returns the stored reference. Saving an existing reference refreshes
	// its fields (service URL above all), makes it active again and keeps
	// its CreatedAt.
	SaveConversationRef(ctx context.Context, r ConversationRef) (ConversationRef, error)
	// ConversationRefs returns the active references of users, in one batch,
	// ordered by user then creation.
	ConversationRefs(ctx context.Context, userIDs []string) ([]ConversationRef, error)
	// ListConversationRefs returns a user's references, active and retired,
	// oldest first.
	ListConversationRefs(ctx context.Context, userID string) ([]ConversationRef, error)
	// RetireConversationRef marks a reference retired; retiring a retired
	// one keeps the first reason. ErrNotFound if it does not exist.
	RetireConversationRef(ctx context.Context, id, reason string, at time.Time) error
}

// Transcript is a conversation on herald's own Direct Line endpoint.
type Transcript struct {
	ID string `json:"conversationId"`
	// UserID is the person the conversation belongs to, "" until known.
	UserID    string    `json:"userId,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
}

// TranscriptEntry is one activity of a Direct Line conversation. Seq is the
// conversation's watermark after this activity: 1, 2, 3... in append order.
type TranscriptEntry struct {
	Seq      int64
	Activity json.RawMessage
	At       time.Time
}

// Transcripts stores the Direct Line conversations herald serves, so that a
// client that reconnects, to any herald process, gets what it missed.
type Transcripts interface {
	// CreateTranscript starts a conversation; creating one that exists
	// returns ErrConflict.
	CreateTranscript(ctx context.Context, t Transcript) error
	// Transcript returns a conversation; ErrNotFound if absent.
	Transcript(ctx context.Context, id string) (Transcript, error)
	// AppendTranscript appends activities, in order, and returns the Seq
	// given to each. ErrNotFound if the conversation does not exist.
	AppendTranscript(ctx context.Context, id string, activities []json.RawMessage, at time.Time) ([]int64, error)
	// ReadTranscript returns up to limit entries with Seq > after, in order.
	ReadTranscript(ctx context.Context, id string, after int64, limit int) ([]TranscriptEntry, error)
}
