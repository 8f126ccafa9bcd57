// Package activity holds the Bot Framework Activity schema herald speaks:
// activities, channel and conversation accounts, conversation references,
// card actions and attachments, with the JSON names of the Bot Framework
// protocol. It has no I/O. Fields herald does not interpret travel as raw
// JSON so that nothing a channel or client sent is lost on the way through.
package activity

import (
	"encoding/json"
	"time"
)

// Activity types herald sends or reacts to. Receivers must accept others.
const (
	TypeMessage             = "message"
	TypeEvent               = "event"
	TypeConversationUpdate  = "conversationUpdate"
	TypeInstallationUpdate  = "installationUpdate"
	TypeTyping              = "typing"
	TypeInvoke              = "invoke"
	TypeEndOfConversation   = "endOfConversation"
	TypeContactRelationship = "contactRelationUpdate"
)

// BroadcastEventName is the event activity name that hands a canonical
// event to an external Virtual Assistant bot; its value is the event.
const BroadcastEventName = "BroadcastEvent"

// AdaptiveCardContentType is the attachment content type of an Adaptive Card.
const AdaptiveCardContentType = "application/vnd.microsoft.card.adaptive"

// ChannelAccount is a person or bot on a channel.
type ChannelAccount struct {
	ID          string `json:"id"`
	Name        string `json:"name,omitempty"`
	AADObjectID string `json:"aadObjectId,omitempty"`
	Role        string `json:"role,omitempty"`
}

// ConversationAccount is a conversation on a channel.
type ConversationAccount struct {
	ID               string `json:"id"`
	Name             string `json:"name,omitempty"`
	IsGroup          bool   `json:"isGroup,omitempty"`
	ConversationType string `json:"conversationType,omitempty"`
	TenantID         string `json:"tenantId,omitempty"`
	Role             string `json:"role,omitempty"`
}

// ConversationReference points at a conversation so a bot can write into
// it later; ChannelID and Conversation.ID are required.
type ConversationReference struct {
	ActivityID   string              `json:"activityId,omitempty"`
	User         *ChannelAccount     `json:"user,omitempty"`
	Bot          *ChannelAccount     `json:"bot,omitempty"`
	Conversation ConversationAccount `json:"conversation"`
	ChannelID    string              `json:"channelId"`
	ServiceURL   string              `json:"serviceUrl,omitempty"`
	Locale       string              `json:"locale,omitempty"`
}

// CardAction is a button: imBack, postBack, messageBack, openUrl...
type CardAction struct {
	Type        string          `json:"type"`
	Title       string          `json:"title,omitempty"`
	Value       json.RawMessage `json:"value,omitempty"`
	Text        string          `json:"text,omitempty"`
	DisplayText string          `json:"displayText,omitempty"`
}

// SuggestedActions are quick replies shown with a message.
type SuggestedActions struct {
	To      []string     `json:"to,omitempty"`
	Actions []CardAction `json:"actions"`
}

// Attachment is a card or file attached to a message.
type Attachment struct {
	ContentType  string          `json:"contentType"`
	Content      json.RawMessage `json:"content,omitempty"`
	ContentURL   string          `json:"contentUrl,omitempty"`
	Name         string          `json:"name,omitempty"`
	ThumbnailURL string          `json:"thumbnailUrl,omitempty"`
}

// Activity is one Bot Framework activity. Only fields herald reads or
// writes are typed; channelData, entities and value are kept raw.
type Activity struct {
	Type             string                 `json:"type"`
	ID               string                 `json:"id,omitempty"`
	Timestamp        *time.Time             `json:"timestamp,omitempty"`
	LocalTimestamp   string                 `json:"localTimestamp,omitempty"`
	LocalTimezone    string                 `json:"localTimezone,omitempty"`
	ServiceURL       string                 `json:"serviceUrl,omitempty"`
	ChannelID        string                 `json:"channelId,omitempty"`
	From             *ChannelAccount        `json:"from,omitempty"`
	Conversation     *ConversationAccount   `json:"conversation,omitempty"`
	Recipient        *ChannelAccount        `json:"recipient,omitempty"`
	MembersAdded     []ChannelAccount       `json:"membersAdded,omitempty"`
	MembersRemoved   []ChannelAccount       `json:"membersRemoved,omitempty"`
	Action           string                 `json:"action,omitempty"`
	TextFormat       string                 `json:"textFormat,omitempty"`
	Text             string                 `json:"text,omitempty"`
	Summary          string                 `json:"summary,omitempty"`
	Locale           string                 `json:"locale,omitempty"`
	Importance       string                 `json:"importance,omitempty"`
	AttachmentLayout string                 `json:"attachmentLayout,omitempty"`
	Attachments      []Attachment           `json:"attachments,omitempty"`
	SuggestedActions *SuggestedActions      `json:"suggestedActions,omitempty"`
	Entities         json.RawMessage        `json:"entities,omitempty"`
	ChannelData      json.RawMessage        `json:"channelData,omitempty"`
	ReplyToID        string                 `json:"replyToId,omitempty"`
	Name             string                 `json:"name,omitempty"`
	Value            json.RawMessage        `json:"value,omitempty"`
	RelatesTo        *ConversationReference `json:"relatesTo,omitempty"`
	Expiration       *time.Time             `json:"expiration,omitempty"`
}

// Reference returns the conversation reference of an inbound activity: the
// user is its sender and the bot its recipient.
func (a Activity) Reference() ConversationReference {
	r := ConversationReference{ActivityID: a.ID, User: a.From, Bot: a.Recipient,
		ChannelID: a.ChannelID, ServiceURL: a.ServiceURL, Locale: a.Locale}
	if a.Conversation != nil {
		r.Conversation = *a.Conversation
	}
	return r
}

// TenantID returns the Teams tenant of an activity: conversation.tenantId,
// else channelData.tenant.id; "" when neither is present.
func (a Activity) TenantID() string {
	if a.Conversation != nil && a.Conversation.TenantID != "" {
		return a.Conversation.TenantID
	}
	if len(a.ChannelData) == 0 {
		return ""
	}
	var cd struct {
		Tenant struct {
			ID string `json:"id"`
		} `json:"tenant"`
	}
	if json.Unmarshal(a.ChannelData, &cd) != nil {
		return ""
	}
	return cd.Tenant.ID
}

// ResourceResponse is the Connector's answer to a sent activity.
type ResourceResponse struct {
	ID string `json:"id"`
}

// ErrorResponse is the Connector's error body.
type ErrorResponse struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		// SubCode is set by Teams on some 403s, e.g. MessageWritesBlocked.
		SubCode string `json:"subCode,omitempty"`
	} `json:"error"`
}
