package conversation

import (
	"encoding/json"

	"github.com/herald/herald/internal/activity"
	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/store"
)

// ActionValue is what an Adaptive Card's Action.Submit or a postBack sends
// back to the assistant when a person chooses a notification's action.
type ActionValue struct {
	Herald ActionRef `json:"herald"`
}

// ActionRef names the action chosen and the notification it belongs to.
type ActionRef struct {
	Action  string          `json:"action"`
	EventID string          `json:"eventId"`
	Value   json.RawMessage `json:"value,omitempty"`
}

// Render turns a notification into the message activity sent into ref's
// conversation: the text (for channels and clients that show no cards), an
// Adaptive Card with the title, message and actions, and the actions again
// as suggested actions. In Teams it carries the tenant.
func Render(ev event.Event, ref store.ConversationRef) activity.Activity {
	n := ev.Notification
	text := n.Message
	if n.Title != "" {
		text = "**" + n.Title + "**\n\n" + n.Message
	}
	a := activity.Activity{
		Type:         activity.TypeMessage,
		ChannelID:    ref.ChannelID,
		ServiceURL:   ref.ServiceURL,
		TextFormat:   "markdown",
		Text:         text,
		Summary:      firstNonEmpty(n.Title, n.Message),
		Locale:       firstNonEmpty(n.Locale, ref.Locale),
		From:         &activity.ChannelAccount{ID: ref.BotID, Name: ref.BotName, Role: "bot"},
		Recipient:    &activity.ChannelAccount{ID: ref.AccountID, Name: ref.AccountName, Role: "user"},
		Conversation: &activity.ConversationAccount{ID: ref.ConversationID, TenantID: ref.TenantID},
		Expiration:   n.ExpiresAt,
		Attachments:  []activity.Attachment{{ContentType: activity.AdaptiveCardContentType, Content: card(ev)}},
	}
	if a.From.ID == "" {
		a.From = nil
	}
	if a.Recipient.ID == "" {
		a.Recipient = nil
	}
	if n.Urgency == event.UrgencyHigh {
		a.Importance = "high"
	}
	if ref.TenantID != "" {
		a.ChannelData, _ = json.Marshal(map[string]any{"tenant": map[string]string{"id": ref.TenantID},
			"notification": map[string]bool{"alert": n.Urgency == event.UrgencyHigh}})
	}
	var suggested []activity.CardAction
	for _, act := range n.Actions {
		if act.URL != "" {
			suggested = append(suggested, activity.CardAction{Type: "openUrl", Title: act.Title, Value: mustJSON(act.URL)})
			continue
		}
		suggested = append(suggested, activity.CardAction{Type: "postBack", Title: act.Title, Value: actionValue(ev, act)})
	}
	if len(suggested) > 0 {
		a.SuggestedActions = &activity.SuggestedActions{Actions: suggested}
		if ref.AccountID != "" {
			a.SuggestedActions.To = []string{ref.AccountID}
		}
	}
	return a
}

func card(ev event.Event) json.RawMessage {
	n := ev.Notification
	var body []map[string]any
	if n.Title != "" {
		body = append(body, map[string]any{"type": "TextBlock", "text": n.Title, "weight": "Bolder", "size": "Medium", "wrap": true})
	}
	body = append(body, map[string]any{"type": "TextBlock", "text": n.Message, "wrap": true})
	var actions []map[string]any
	for _, act := range n.Actions {
		if act.URL != "" {
			actions = append(actions, map[string]any{"type": "Action.OpenUrl", "title": act.Title, "url": act.URL})
			continue
		}
		actions = append(actions, map[string]any{"type": "Action.Submit", "title": act.Title, "data": json.RawMessage(actionValue(ev, act))})
	}
	c := map[string]any{"type": "AdaptiveCard", "version": "1.5",
		"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "body": body}
	if len(actions) > 0 {
		c["actions"] = actions
	}
	return mustJSON(c)
}

func actionValue(ev event.Event, act event.Action) json.RawMessage {
	return mustJSON(ActionValue{Herald: ActionRef{Action: act.ID, EventID: ev.ID, Value: act.Value}})
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only maps, strings and raw JSON already valid
	}
	return b
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
