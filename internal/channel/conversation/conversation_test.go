package conversation_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herald/herald/internal/activity"
	"github.com/herald/herald/internal/bfauth"
	"github.com/herald/herald/internal/bfauth/bfauthtest"
	"github.com/herald/herald/internal/channel"
	"github.com/herald/herald/internal/channel/conversation"
	"github.com/herald/herald/internal/connector"
	"github.com/herald/herald/internal/connector/connectortest"
	"github.com/herald/herald/internal/event"
	"github.com/herald/herald/internal/store"
	"github.com/herald/herald/internal/store/sqlitestore"
)

type fixture struct {
	st   store.Store
	peer *connectortest.Connector
	id   *bfauthtest.Identity
	ch   *conversation.Channel
}

func setup(t *testing.T, edit func(*conversation.Config)) *fixture {
	t.Helper()
	st, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "h.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	id := bfauthtest.New(t)
	peer := connectortest.New(t)
	peer.Token = "bot-token-1"
	tokens := bfauth.NewTokenSource(bfauth.TokenConfig{AppID: "app", AppPassword: "pw", TokenURL: id.TokenURL()})
	cfg := conversation.Config{Store: st, Sender: conversation.Router{Connector: conversation.ConnectorSender{Client: connector.New(nil, tokens, "herald-test")}}}
	if edit != nil {
		edit(&cfg)
	}
	ch, err := conversation.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{st: st, peer: peer, id: id, ch: ch}
}

func (f *fixture) ref(t *testing.T, user, conv string) store.ConversationRef {
	t.Helper()
	r, err := f.st.SaveConversationRef(t.Context(), store.ConversationRef{UserID: user, ChannelID: "msteams",
		ConversationID: conv, ServiceURL: f.peer.URL(), TenantID: "tenant-1", AccountID: "29:" + user, BotID: "28:bot"})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func notification(id string) event.Event {
	return event.Event{ID: id, Notification: event.Notification{Title: "Training due", Message: "Finish Security 101 by Friday.",
		Urgency: event.UrgencyHigh, Actions: []event.Action{
			{ID: "startConversation", Title: "Start conversation"},
			{ID: "open", Title: "Open course", URL: "https://learn.example/sec101"}}}}
}

func TestDeliversACardIntoEveryConversation(t *testing.T) {
	f := setup(t, nil)
	f.ref(t, "ada", "a:teams")
	f.ref(t, "ada", "a:group")
	res := f.ch.Deliver(t.Context(), []channel.Job{{Event: notification("e1"), UserID: "ada", Attempt: 1}})
	if res[0].Err != nil {
		t.Fatalf("Deliver: %v", res[0].Err)
	}
	for _, conv := range []string{"a:teams", "a:group"} {
		got := f.peer.In(conv)
		if len(got) != 1 {
			t.Fatalf("conversation %s received %d activities, want 1", conv, len(got))
		}
		a := got[0]
		if a.Type != "message" || !strings.Contains(a.Text, "Training due") || a.Importance != "high" {
			t.Errorf("activity = %+v", a)
		}
		if len(a.Attachments) != 1 || a.Attachments[0].ContentType != activity.AdaptiveCardContentType {
			t.Fatalf("attachments = %+v, want one Adaptive Card", a.Attachments)
		}
		var card struct {
			Type    string
			Body    []struct{ Text string }
			Actions []struct {
				Type, Title, URL string
				Data             conversation.ActionValue
			}
		}
		if err := json.Unmarshal(a.Attachments[0].Content, &card); err != nil {
			t.Fatal(err)
		}
		if card.Type != "AdaptiveCard" || len(card.Body) != 2 || card.Body[1].Text != "Finish Security 101 by Friday." {
			t.Errorf("card = %+v", card)
		}
		if len(card.Actions) != 2 || card.Actions[0].Type != "Action.Submit" || card.Actions[0].Data.Herald.Action != "startConversation" ||
			card.Actions[0].Data.Herald.EventID != "e1" || card.Actions[1].Type != "Action.OpenUrl" {
			t.Errorf("card actions = %+v", card.Actions)
		}
		if a.SuggestedActions == nil || len(a.SuggestedActions.Actions) != 2 || a.SuggestedActions.Actions[0].Type != "postBack" {
			t.Errorf("suggested actions = %+v", a.SuggestedActions)
		}
		if a.Conversation == nil || a.Conversation.TenantID != "tenant-1" || !strings.Contains(string(a.ChannelData), `"tenant-1"`) {
			t.Errorf("tenant not carried: conversation %+v channelData %s", a.Conversation, a.ChannelData)
		}
	}
	if n := f.id.Issued.Load(); n != 1 {
		t.Errorf("%d tokens issued for 2 sends, want 1 (cached)", n)
	}
	// Delivered again (a redelivered batch): nothing is sent twice.
	res = f.ch.Deliver(t.Context(), []channel.Job{{Event: notification("e1"), UserID: "ada", Attempt: 2}})
	if res[0].Err != nil || len(f.peer.Received()) != 2 {
		t.Fatalf("second Deliver: %v, %d activities in all, want still 2", res[0].Err, len(f.peer.Received()))
	}
}

func TestNoConversationIsUnreachable(t *testing.T) {
	f := setup(t, nil)
	res := f.ch.Deliver(t.Context(), []channel.Job{{Event: notification("e1"), UserID: "nobody", Attempt: 1}})
	if !errors.Is(res[0].Err, channel.ErrNoAddress) {
		t.Fatalf("Deliver to a person with no conversation = %v, want ErrNoAddress", res[0].Err)
	}
}

func TestTooManyRequestsIsRetriedAfterItsDelayAndOnlyTheFailedConversation(t *testing.T) {
	f := setup(t, nil)
	f.ref(t, "ada", "a:ok")
	f.ref(t, "ada", "a:busy")
	f.peer.Script("a:busy", connectortest.TooManyRequests)
	job := channel.Job{Event: notification("e1"), UserID: "ada", Attempt: 1}
	res := f.ch.Deliver(t.Context(), []channel.Job{job})
	var ra *channel.RetryAfterError
	if !errors.As(res[0].Err, &ra) || ra.After != time.Second {
		t.Fatalf("Deliver with a 429 = %v, want a retry after 1s", res[0].Err)
	}
	job.Attempt = 2
	if res := f.ch.Deliver(t.Context(), []channel.Job{job}); res[0].Err != nil {
		t.Fatalf("retry: %v", res[0].Err)
	}
	if a, b := len(f.peer.In("a:ok")), len(f.peer.In("a:busy")); a != 1 || b != 1 {
		t.Fatalf("after the retry a:ok has %d and a:busy %d messages, want 1 each", a, b)
	}
}

func TestServerErrorsAreRetried(t *testing.T) {
	for _, rep := range []connectortest.Reply{connectortest.Unavailable, connectortest.BadGateway, {Status: 412, Code: "PreconditionFailed"}} {
		t.Run(fmt.Sprint(rep.Status), func(t *testing.T) {
			f := setup(t, nil)
			f.ref(t, "ada", "a:1")
			f.peer.Script("a:1", rep)
			res := f.ch.Deliver(t.Context(), []channel.Job{{Event: notification("e1"), UserID: "ada", Attempt: 1}})
			if res[0].Err == nil || channel.IsPermanent(res[0].Err) || errors.Is(res[0].Err, channel.ErrNoAddress) {
				t.Fatalf("Deliver with %d = %v, want a retryable error", rep.Status, res[0].Err)
			}
		})
	}
}

func TestBlockedOrMissingConversationsAreRetired(t *testing.T) {
	f := setup(t, nil)
	blocked := f.ref(t, "ada", "a:blocked")
	f.ref(t, "ada", "a:fine")
	gone := f.ref(t, "grace", "g:gone")
	f.peer.Script("a:blocked", connectortest.WritesBlocked)
	f.peer.Script("g:gone", connectortest.NotFound)
	res := f.ch.Deliver(t.Context(), []channel.Job{
		{Event: notification("e1"), UserID: "ada", Attempt: 1},
		{Event: notification("e1"), UserID: "grace", Attempt: 1},
	})
	if res[0].Err != nil {
		t.Errorf("ada (one conversation left) = %v, want delivered", res[0].Err)
	}
	if !errors.Is(res[1].Err, channel.ErrNoAddress) || !strings.Contains(res[1].Err.Error(), "404") {
		t.Errorf("grace (her only conversation gone) = %v, want unreachable with the reason", res[1].Err)
	}
	for user, want := range map[string]struct{ id, reason string }{
		"ada": {blocked.ID, "403 MessageWritesBlocked"}, "grace": {gone.ID, "404 ConversationNotFound"}} {
		refs, _ := f.st.ListConversationRefs(t.Context(), user)
		for _, r := range refs {
			if r.ID == want.id && (r.RetiredAt == nil || r.RetiredReason != want.reason) {
				t.Errorf("%s's reference: retired %v reason %q, want %q", user, r.RetiredAt, r.RetiredReason, want.reason)
			}
		}
	}
	// The next notification reaches ada's remaining conversation only.
	res = f.ch.Deliver(t.Context(), []channel.Job{{Event: notification("e2"), UserID: "ada", Attempt: 1}})
	if res[0].Err != nil || len(f.peer.In("a:fine")) != 2 {
		t.Fatalf("next notification: %v, a:fine has %d messages, want 2", res[0].Err, len(f.peer.In("a:fine")))
	}
}

func TestConversationLimitsKeepUnderTeamsRates(t *testing.T) {
	f := setup(t, func(c *conversation.Config) { c.MaxWait = 10 * time.Second })
	f.peer.PerConversationPerSecond = 7
	f.ref(t, "ada", "a:1")
	var jobs []channel.Job
	for i := range 12 {
		jobs = append(jobs, channel.Job{Event: notification(fmt.Sprintf("e%d", i)), UserID: "ada", Attempt: 1})
	}
	res := f.ch.Deliver(t.Context(), jobs)
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("job %d: %v", i, r.Err)
		}
	}
	if req, rej := f.peer.Stats(); req != 12 || rej != 0 {
		t.Fatalf("peer saw %d requests, %d refused for rate; want 12 and 0", req, rej)
	}
}

func TestLongWaitsArePostponed(t *testing.T) {
	f := setup(t, func(c *conversation.Config) {
		c.Limits = conversation.Limits{PerTenant: 2}
		c.MaxWait = 100 * time.Millisecond
	})
	var jobs []channel.Job
	for i := range 6 {
		u := fmt.Sprintf("u%d", i)
		f.ref(t, u, "c:"+u)
		jobs = append(jobs, channel.Job{Event: notification("e1"), UserID: u, Attempt: 1})
	}
	res := f.ch.Deliver(t.Context(), jobs)
	delivered, postponed := 0, 0
	for _, r := range res {
		var pp *channel.PostponedError
		switch {
		case r.Err == nil:
			delivered++
		case errors.As(r.Err, &pp):
			postponed++
			if pp.After <= 100*time.Millisecond {
				t.Errorf("postponed by %s, want more than MaxWait", pp.After)
			}
		default:
			t.Errorf("unexpected result %v", r.Err)
		}
	}
	if delivered < 2 || delivered > 3 || postponed != 6-delivered {
		t.Fatalf("%d delivered and %d postponed at 2/s with a 100ms wait; want 2 or 3 delivered, the rest postponed", delivered, postponed)
	}
}

func TestPredict(t *testing.T) {
	l := conversation.Limits{}
	if got := l.Predict(10_000); got < 198*time.Second || got > 200*time.Second {
		t.Fatalf("Predict(10,000) at Teams' 50/s = %s, want about 199s", got)
	}
	if got := l.Predict(10); got != 0 {
		t.Fatalf("Predict(10) = %s, want 0 (within the burst)", got)
	}
}

// panicSender stands in for a bug in a sender.
type panicSender struct{}

func (panicSender) Send(context.Context, store.ConversationRef, activity.Activity) (string, error) {
	panic("sender bug")
}

func TestAPanickingSendFailsThatJobNotTheProcess(t *testing.T) {
	f := setup(t, func(c *conversation.Config) { c.Sender = panicSender{} })
	f.ref(t, "ada", "a:1")
	res := f.ch.Deliver(t.Context(), []channel.Job{{Event: notification("e1"), UserID: "ada", Attempt: 1}})
	if res[0].Err == nil || !strings.Contains(res[0].Err.Error(), "panic: sender bug") || channel.IsPermanent(res[0].Err) {
		t.Fatalf("Deliver with a panicking sender = %v, want a retryable error naming the panic", res[0].Err)
	}
}
