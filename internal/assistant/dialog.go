package assistant

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/herald/herald/internal/activity"
	"github.com/herald/herald/internal/channel/conversation"
	"github.com/herald/herald/internal/store"
)

// Action ids the assistant understands.
const (
	// ActionStart opens a dialog about a notification.
	ActionStart = "startConversation"
	// ActionDetails asks for a notification's details.
	ActionDetails = "details"
)

// StartEventName is the event activity a page sends (over Direct Line) to
// open a dialog about a notification: value {"eventId": "..."}.
const StartEventName = "herald.startConversation"

// Dialog is the conversation about one category of notification.
type Dialog interface {
	// Start opens the dialog about n.
	Start(ctx context.Context, n store.InboxItem) []activity.Activity
	// Details answers "tell me more" about n.
	Details(ctx context.Context, n store.InboxItem) []activity.Activity
}

// DefaultDialog recalls the notification, offers its details, and gives
// them: the message, its data fields and its links.
type DefaultDialog struct{}

// Start implements Dialog.
func (DefaultDialog) Start(_ context.Context, n store.InboxItem) []activity.Activity {
	about := n.Message
	if n.Title != "" {
		about = n.Title + ": " + n.Message
	}
	return []activity.Activity{{Type: activity.TypeMessage,
		Text: fmt.Sprintf("Let's talk about this notification. %s\n\nWould you like more details?", about),
		SuggestedActions: &activity.SuggestedActions{Actions: []activity.CardAction{
			{Type: "imBack", Title: "Yes, tell me more", Value: jsonString("Yes, tell me more")},
			{Type: "imBack", Title: "No, thanks", Value: jsonString("No, thanks")},
		}}}}
}

// Details implements Dialog.
func (DefaultDialog) Details(_ context.Context, n store.InboxItem) []activity.Activity {
	var b strings.Builder
	if n.Title != "" {
		fmt.Fprintf(&b, "**%s**\n\n", n.Title)
	}
	b.WriteString(n.Message)
	var data map[string]any
	if len(n.Data) > 0 && json.Unmarshal(n.Data, &data) == nil && len(data) > 0 {
		keys := make([]string, 0, len(data))
		for k := range data {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b.WriteString("\n\n")
		for _, k := range keys {
			fmt.Fprintf(&b, "- %s: %v\n", k, data[k])
		}
	}
	for _, act := range n.Actions {
		if act.URL != "" {
			fmt.Fprintf(&b, "\n[%s](%s)", act.Title, act.URL)
		}
	}
	if n.ExpiresAt != nil {
		fmt.Fprintf(&b, "\n\nThis is relevant until %s.", n.ExpiresAt.Format("Mon 2 Jan 2006 15:04 MST"))
	}
	return []activity.Activity{{Type: activity.TypeMessage, TextFormat: "markdown", Text: b.String()}}
}

func jsonString(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}

// affirmative are replies that ask for the details of the latest
// notification.
var affirmative = []string{"yes", "yes, tell me more", "tell me more", "more", "details", "sure", "ok", "yes please"}

// converse handles a message or event from a person.
func (a *Assistant) converse(ctx context.Context, act activity.Activity, ref store.ConversationRef) error {
	if action, ok := chosenAction(act); ok {
		return a.onAction(ctx, act, ref, action)
	}
	if act.Type != activity.TypeMessage {
		return nil // unknown events must be ignored
	}
	text := strings.ToLower(strings.Trim(strings.TrimSpace(act.Text), ".!"))
	switch {
	case slices.Contains(affirmative, text):
		n, err := a.latest(ctx, ref.UserID)
		if err != nil {
			return err
		}
		if n == nil {
			return a.reply(ctx, act, ref, say("You have no notifications right now."))
		}
		return a.reply(ctx, act, ref, a.dialog(n.Category).Details(ctx, *n))
	case strings.HasPrefix(text, "no"):
		return a.reply(ctx, act, ref, say("All right. I'm here if you need me."))
	default:
		unread, err := a.cfg.Store.UnreadCount(ctx, ref.UserID)
		if err != nil {
			return fmt.Errorf("assistant: count unread: %w", err)
		}
		msg := "I'm herald, your notification assistant. You have no unread notifications."
		if unread > 0 {
			msg = fmt.Sprintf("I'm herald, your notification assistant. You have %d unread notification(s); say \"tell me more\" to hear about the latest.", unread)
		}
		return a.reply(ctx, act, ref, say(msg))
	}
}

// chosenAction reads a notification action from an Action.Submit or
// postBack value, or from the start event a page sends.
func chosenAction(act activity.Activity) (conversation.ActionRef, bool) {
	if len(act.Value) == 0 {
		return conversation.ActionRef{}, false
	}
	if act.Type == activity.TypeEvent && act.Name == StartEventName {
		var v struct {
			EventID string `json:"eventId"`
		}
		if json.Unmarshal(act.Value, &v) == nil && v.EventID != "" {
			return conversation.ActionRef{Action: ActionStart, EventID: v.EventID}, true
		}
	}
	var v conversation.ActionValue
	if json.Unmarshal(act.Value, &v) == nil && v.Herald.Action != "" {
		return v.Herald, true
	}
	return conversation.ActionRef{}, false
}

func (a *Assistant) onAction(ctx context.Context, act activity.Activity, ref store.ConversationRef, action conversation.ActionRef) error {
	n, err := a.cfg.Store.MarkRead(ctx, ref.UserID, action.EventID, a.cfg.Now())
	if errors.Is(err, store.ErrNotFound) {
		return a.reply(ctx, act, ref, say("I can't find that notification any more."))
	}
	if err != nil {
		return fmt.Errorf("assistant: read notification %s: %w", action.EventID, err)
	}
	d := a.dialog(n.Category)
	a.log.Info("dialog", "user", ref.UserID, "event", action.EventID, "action", action.Action)
	switch action.Action {
	case ActionDetails:
		return a.reply(ctx, act, ref, d.Details(ctx, n))
	default: // ActionStart and any custom action open the dialog
		return a.reply(ctx, act, ref, d.Start(ctx, n))
	}
}

// latest returns the person's newest notification, nil if none.
func (a *Assistant) latest(ctx context.Context, user string) (*store.InboxItem, error) {
	items, err := a.cfg.Store.ListInbox(ctx, store.InboxQuery{UserID: user, Limit: 1})
	if err != nil {
		return nil, fmt.Errorf("assistant: read the inbox: %w", err)
	}
	if len(items) == 0 {
		return nil, nil
	}
	return &items[0], nil
}

func (a *Assistant) dialog(category string) Dialog {
	if d, ok := a.cfg.Dialogs[category]; ok {
		return d
	}
	return a.cfg.Default
}

func say(text string) []activity.Activity {
	return []activity.Activity{{Type: activity.TypeMessage, Text: text}}
}
