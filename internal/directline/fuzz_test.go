package directline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/herald/herald/internal/activity"
	"github.com/herald/herald/internal/directline"
)

// FuzzPostActivity posts arbitrary bodies to a conversation as a client
// holding a token bound to one person. Whatever the body, the answer is
// 200 or a 4xx Direct Line error, never a failure of herald's own; and an
// activity that is taken reaches the bot and the transcript from that
// person, in that conversation, on herald's channel, under the id answered:
// a client cannot speak for someone else or into another conversation.
func FuzzPostActivity(f *testing.F) {
	for _, s := range []string{
		`{"type":"message","text":"hello","from":{"id":"fuzzer"},"channelData":{"clientActivityID":"c1"}}`,
		`{"type":"message","text":"spoof","from":{"id":"admin","name":"Admin","role":"bot"},"conversation":{"id":"other"},"channelId":"msteams","id":"x","recipient":{"id":"u"}}`,
		`{"type":"event","name":"herald.startConversation","value":{"eventId":"e1"}}`,
		`{"type":"typing"}`,
		`{"type":"conversationUpdate","membersAdded":[{"id":"x"}]}`,
		`{"type":"message","attachments":[{"contentType":"image/png","contentUrl":"data:,"}],"unknownField":{"kept":[1,2]}}`,
		`{"type":""}`, `{}`, `[]`, `null`, `{"type":"message","timestamp":"not a time"}`, `{"type":"message","from":null}`,
	} {
		f.Add([]byte(s))
	}
	var mu sync.Mutex
	var got []activity.Activity
	b := setup(f, func(c *directline.Config) {
		c.Bot = directline.BotFunc(func(_ context.Context, a activity.Activity) error {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, a)
			return nil
		})
	})
	status, data := b.send(f, "POST", "/conversations", secret, []byte(`{"user":{"id":"fuzzer","name":"Fuzzer"}}`))
	var conv directline.Conversation
	if status != http.StatusCreated || json.Unmarshal(data, &conv) != nil {
		f.Fatalf("start: %d %s", status, data)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		mu.Lock()
		got = got[:0]
		mu.Unlock()
		status, data := b.send(t, "POST", "/conversations/"+conv.ConversationID+"/activities", conv.Token, body)
		if status != http.StatusOK {
			var e activity.ErrorResponse
			if status < 400 || status >= 500 || json.Unmarshal(data, &e) != nil || e.Error.Code == "" {
				t.Fatalf("answered %d %s, want 200 or a 4xx Direct Line error", status, data)
			}
			return
		}
		var res activity.ResourceResponse
		if json.Unmarshal(data, &res) != nil || res.ID == "" {
			t.Fatalf("answered 200 %s without an id", data)
		}
		mu.Lock()
		defer mu.Unlock()
		var a *activity.Activity
		for i := range got {
			if got[i].Type != activity.TypeConversationUpdate {
				a = &got[i]
			}
		}
		if a == nil {
			t.Fatalf("activity %s never reached the bot", res.ID)
		}
		if a.ID != res.ID || a.From == nil || a.From.ID != "fuzzer" || a.Conversation == nil || a.Conversation.ID != conv.ConversationID ||
			a.ChannelID != directline.ChannelID {
			t.Fatalf("the bot got id %q from %+v in %+v on %q; want %q from fuzzer in %s on %s",
				a.ID, a.From, a.Conversation, a.ChannelID, res.ID, conv.ConversationID, directline.ChannelID)
		}
		if strings.Contains(res.ID, "|typing-") {
			return
		}
		// The stored activity, as a client reads it back, says the same.
		_, seqText, _ := strings.Cut(res.ID, "|")
		seq, err := strconv.ParseInt(seqText, 10, 64)
		if err != nil {
			t.Fatalf("answered id %q, not conversation|seq", res.ID)
		}
		status, data = b.send(t, "GET", fmt.Sprintf("/conversations/%s/activities?watermark=%d", conv.ConversationID, seq-1), conv.Token, nil)
		var set directline.ActivitySet
		if status != http.StatusOK || json.Unmarshal(data, &set) != nil {
			t.Fatalf("reading activities: %d %.200s", status, data)
		}
		for _, raw := range set.Activities {
			var s activity.Activity
			if err := json.Unmarshal(raw, &s); err != nil {
				t.Fatalf("a stored activity does not read back: %v: %.300s", err, raw)
			}
			if s.ID == res.ID {
				if s.From == nil || s.From.ID != "fuzzer" || s.Conversation == nil || s.Conversation.ID != conv.ConversationID {
					t.Fatalf("stored as from %+v in %+v", s.From, s.Conversation)
				}
				return
			}
		}
		t.Fatalf("activity %s is not in the transcript", res.ID)
	})
}
