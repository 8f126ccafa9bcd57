package assistant

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/herald/herald/internal/activity"
	"github.com/herald/herald/internal/channel/conversation"
)

// FuzzInboundActivity reads an inbound activity as the assistant does:
// whatever arrives, finding the person and the chosen notification action
// never fails; a chosen action always names one, a started conversation
// names its event, and an action the assistant reads can be sent back in a
// card (conversation.ActionValue) and read again unchanged.
func FuzzInboundActivity(f *testing.F) {
	for _, s := range []string{
		`{"type":"message","channelId":"msteams","from":{"id":"29:1","aadObjectId":"00000000-0000-0000-0000-000000000001"},"value":{"herald":{"action":"startConversation","eventId":"e1"}}}`,
		`{"type":"message","channelId":"webchat","from":{"id":"alice"},"value":{"herald":{"action":"later","eventId":"e2","value":{"k":[1,2]}}}}`,
		`{"type":"event","name":"herald.startConversation","value":{"eventId":"e3"},"from":{"id":"bob"}}`,
		`{"type":"event","name":"herald.startConversation","value":{"eventId":""}}`,
		`{"type":"message","text":"tell me more","from":{"id":"carol"}}`,
		`{"type":"message","value":"yes"}`,
		`{"type":"message","value":{"herald":null}}`,
		`{"type":"message","value":{"herald":{"action":1}}}`,
		`{"type":"invoke","name":"adaptiveCard/action","value":{"action":{"type":"Action.Execute","data":{"herald":{"action":"x","eventId":"y"}}}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var act activity.Activity
		if json.Unmarshal(data, &act) != nil {
			return
		}
		_ = UserID(act.ChannelID, act.From)
		_ = UserID("msteams", act.From)
		got, ok := chosenAction(act)
		if !ok {
			if got.Action != "" || got.EventID != "" || got.Value != nil {
				t.Fatalf("no action chosen, but %+v returned", got)
			}
			return
		}
		if got.Action == "" {
			t.Fatalf("an action without a name was chosen: %+v", got)
		}
		if act.Type == activity.TypeEvent && act.Name == StartEventName && got.Action == ActionStart && got.EventID == "" {
			t.Fatalf("a conversation started about no event: %+v", got)
		}
		value, err := json.Marshal(conversation.ActionValue{Herald: got})
		if err != nil {
			t.Fatalf("the chosen action cannot be written into a card: %v", err)
		}
		back, ok := chosenAction(activity.Activity{Type: activity.TypeMessage, Value: value})
		if !ok || back.Action != got.Action || back.EventID != got.EventID || !sameJSON(back.Value, got.Value) {
			t.Fatalf("the action read back from a card is %+v (%v), want %+v", back, ok, got)
		}
	})
}

func sameJSON(a, b json.RawMessage) bool {
	var ca, cb bytes.Buffer
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	if json.Compact(&ca, a) != nil || json.Compact(&cb, b) != nil {
		return false
	}
	return bytes.Equal(ca.Bytes(), cb.Bytes())
}
