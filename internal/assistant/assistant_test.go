package assistant_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herald/herald/internal/activity"
	"github.com/herald/herald/internal/assistant"
	"github.com/herald/herald/internal/bfauth"
	"github.com/herald/herald/internal/bfauth/bfauthtest"
	"github.com/herald/herald/internal/channel/conversation"
	"github.com/herald/herald/internal/connector"
	"github.com/herald/herald/internal/connector/connectortest"
	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/store"
	"github.com/herald/herald/internal/store/sqlitestore"
)

const appID = "herald-app"

type fixture struct {
	st      store.Store
	id      *bfauthtest.Identity
	channel *connectortest.Connector // the channel: receives the assistant's replies
	srv     *httptest.Server         // POST /api/messages
}

// trainingDialog is a category's own dialog.
type trainingDialog struct{}

func (trainingDialog) Start(_ context.Context, n store.InboxItem) []activity.Activity {
	return []activity.Activity{{Type: "message", Text: "Your training: " + n.Title + ". Shall I book a slot?"}}
}
func (trainingDialog) Details(_ context.Context, n store.InboxItem) []activity.Activity {
	return []activity.Activity{{Type: "message", Text: "Training details: " + n.Message}}
}

func setup(t *testing.T) *fixture {
	t.Helper()
	st, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "h.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	id := bfauthtest.New(t, "msteams", "webchat")
	ch := connectortest.New(t)
	ch.Token = "bot-token-1"
	tokens := bfauth.NewTokenSource(bfauth.TokenConfig{AppID: appID, AppPassword: "pw", TokenURL: id.TokenURL()})
	a, err := assistant.New(assistant.Config{
		Validator: bfauth.NewValidator(bfauth.Config{AppID: appID, MetadataURLs: []string{id.MetadataURL()}}),
		Store:     st,
		Sender:    conversation.Router{Connector: conversation.ConnectorSender{Client: connector.New(nil, tokens, "")}},
		Dialogs:   map[string]assistant.Dialog{"training": trainingDialog{}},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return &fixture{st: st, id: id, channel: ch, srv: srv}
}

// post sends act to /api/messages as the channel would, with a valid token
// unless auth is given.
func (f *fixture) post(t *testing.T, act activity.Activity, auth ...string) int {
	t.Helper()
	if act.ServiceURL == "" {
		act.ServiceURL = f.channel.URL()
	}
	body, _ := json.Marshal(act)
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if len(auth) > 0 {
		req.Header.Set("Authorization", auth[0])
	} else {
		req.Header.Set("Authorization", "Bearer "+f.id.Sign(t, nil, bfauthtest.ChannelClaims(appID, act.ServiceURL, time.Now())))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func teamsMessage(text string) activity.Activity {
	return activity.Activity{Type: "message", ID: "act-1", ChannelID: "msteams", Text: text,
		From:         &activity.ChannelAccount{ID: "29:ada", Name: "Ada", AADObjectID: "ada"},
		Recipient:    &activity.ChannelAccount{ID: "28:" + appID, Name: "herald"},
		Conversation: &activity.ConversationAccount{ID: "a:ada-1", TenantID: "tenant-1"}}
}

func (f *fixture) inbox(t *testing.T, user string, ev event.Event) {
	t.Helper()
	_, err := f.st.RecordPlans(t.Context(), []store.Plan{{Event: ev, Targeted: 1, PlannedAt: time.Now(),
		Inbox: []store.InboxItem{{ID: ev.ID, UserID: user, EventID: ev.ID, Title: ev.Notification.Title,
			Message: ev.Notification.Message, Category: ev.Notification.Category, Data: ev.Notification.Data,
			Actions: ev.Notification.Actions, CreatedAt: time.Now()}}}})
	if err != nil {
		t.Fatal(err)
	}
}

func TestInboundTokensAreChecked(t *testing.T) {
	f := setup(t)
	if code := f.post(t, teamsMessage("hi"), ""); code != http.StatusUnauthorized {
		t.Errorf("no token: %d, want 401", code)
	}
	if code := f.post(t, teamsMessage("hi"), "Bearer "+f.id.Sign(t, nil, bfauthtest.ChannelClaims("another-bot", f.channel.URL(), time.Now()))); code != http.StatusUnauthorized {
		t.Errorf("token for another bot: %d, want 401", code)
	}
	slack := teamsMessage("hi")
	slack.ChannelID = "slack"
	if code := f.post(t, slack); code != http.StatusForbidden {
		t.Errorf("channel not endorsed: %d, want 403", code)
	}
	refs, _ := f.st.ListConversationRefs(t.Context(), "ada")
	if len(refs) != 0 {
		t.Errorf("refused activities stored %d references", len(refs))
	}
}

func TestConversationsAreRememberedAndRefreshed(t *testing.T) {
	f := setup(t)
	install := activity.Activity{Type: "conversationUpdate", ChannelID: "msteams",
		From:         &activity.ChannelAccount{ID: "29:ada", AADObjectID: "ada"},
		Recipient:    &activity.ChannelAccount{ID: "28:" + appID},
		Conversation: &activity.ConversationAccount{ID: "a:ada-1"},
		ChannelData:  json.RawMessage(`{"tenant":{"id":"tenant-1"}}`),
		MembersAdded: []activity.ChannelAccount{{ID: "28:" + appID}, {ID: "29:ada", Name: "Ada", AADObjectID: "ada"}}}
	if code := f.post(t, install); code != http.StatusOK {
		t.Fatalf("conversationUpdate: %d", code)
	}
	refs, _ := f.st.ListConversationRefs(t.Context(), "ada")
	if len(refs) != 1 || refs[0].ConversationID != "a:ada-1" || refs[0].TenantID != "tenant-1" ||
		refs[0].AccountID != "29:ada" || refs[0].BotID != "28:"+appID || refs[0].ServiceURL != f.channel.URL() {
		t.Fatalf("after install: %+v", refs)
	}
	// The channel moves the conversation to another serviceUrl.
	moved := connectortest.New(t)
	msg := teamsMessage("hello")
	msg.ServiceURL = moved.URL()
	if code := f.post(t, msg); code != http.StatusOK {
		t.Fatalf("message: %d", code)
	}
	refs, _ = f.st.ListConversationRefs(t.Context(), "ada")
	if len(refs) != 1 || refs[0].ServiceURL != moved.URL() {
		t.Fatalf("serviceUrl not refreshed: %+v", refs)
	}
	if got := moved.In("a:ada-1"); len(got) != 1 || !strings.Contains(got[0].Text, "no unread notifications") {
		t.Fatalf("reply to hello = %+v", got)
	}
	// Uninstalling retires it.
	remove := activity.Activity{Type: "installationUpdate", Action: "remove", ChannelID: "msteams",
		From: install.From, Recipient: install.Recipient, Conversation: install.Conversation}
	if code := f.post(t, remove); code != http.StatusOK {
		t.Fatalf("installationUpdate: %d", code)
	}
	refs, _ = f.st.ListConversationRefs(t.Context(), "ada")
	if len(refs) != 1 || refs[0].RetiredAt == nil || refs[0].RetiredReason != "the app was uninstalled" {
		t.Fatalf("after uninstall: %+v", refs)
	}
}

func TestStartConversationOpensTheDialogWithTheNotification(t *testing.T) {
	f := setup(t)
	f.inbox(t, "ada", event.Event{ID: "ev-1", Notification: event.Notification{Title: "Security 101 due",
		Message: "Finish it by Friday.", Category: "training"}})
	f.inbox(t, "ada", event.Event{ID: "ev-2", Notification: event.Notification{Title: "Benefits enrolment open",
		Message: "Choose your plan.", Category: "benefits", Data: json.RawMessage(`{"deadline":"2026-12-01"}`)}})

	submit := teamsMessage("")
	submit.Value = json.RawMessage(`{"herald":{"action":"startConversation","eventId":"ev-1"}}`)
	if code := f.post(t, submit); code != http.StatusOK {
		t.Fatalf("Action.Submit: %d", code)
	}
	got := f.channel.In("a:ada-1")
	if len(got) != 1 || got[0].Text != "Your training: Security 101 due. Shall I book a slot?" || got[0].ReplyToID != "act-1" {
		t.Fatalf("reply to Start conversation = %+v, want the training dialog", got)
	}
	items, _ := f.st.ListInbox(t.Context(), store.InboxQuery{UserID: "ada", Limit: 10})
	for _, it := range items {
		if it.ID == "ev-1" && it.ReadAt == nil {
			t.Error("opening the dialog did not mark the notification read")
		}
	}

	// The default dialog, then "yes, tell me more" about the latest one.
	submit.Value = json.RawMessage(`{"herald":{"action":"startConversation","eventId":"ev-2"}}`)
	f.post(t, submit)
	if code := f.post(t, teamsMessage("Yes, tell me more!")); code != http.StatusOK {
		t.Fatalf("reply: %d", code)
	}
	got = f.channel.In("a:ada-1")
	if len(got) != 3 || !strings.Contains(got[1].Text, "Benefits enrolment open") || got[1].SuggestedActions == nil {
		t.Fatalf("default dialog start = %+v", got)
	}
	if !strings.Contains(got[2].Text, "Choose your plan.") || !strings.Contains(got[2].Text, "deadline: 2026-12-01") {
		t.Fatalf("details = %q, want the message and its data", got[2].Text)
	}
}

func TestStartEventFromAPage(t *testing.T) {
	f := setup(t)
	f.inbox(t, "ada", event.Event{ID: "ev-1", Notification: event.Notification{Title: "Laptop ready", Message: "Pick it up at desk 4."}})
	ev := teamsMessage("")
	ev.ChannelID, ev.Type, ev.Name = "webchat", "event", assistant.StartEventName
	ev.From = &activity.ChannelAccount{ID: "ada"}
	ev.Value = json.RawMessage(`{"eventId":"ev-1"}`)
	if code := f.post(t, ev); code != http.StatusOK {
		t.Fatalf("event: %d", code)
	}
	got := f.channel.In("a:ada-1")
	if len(got) != 1 || !strings.Contains(got[0].Text, "Laptop ready") {
		t.Fatalf("reply to the start event = %+v", got)
	}
}
