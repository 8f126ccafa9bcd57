package activity

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzActivityJSON: any activity herald can read, it can write back, and
// reading what it wrote gives the same activity (so nothing a channel sent
// is lost or changed on the way through); Reference and TenantID never
// fail on it.
func FuzzActivityJSON(f *testing.F) {
	for _, s := range []string{
		`{"type":"message","id":"1","text":"hi","from":{"id":"u1","name":"Ada","aadObjectId":"a-1"},"recipient":{"id":"bot"},"conversation":{"id":"c1","tenantId":"t1"},"channelId":"msteams","serviceUrl":"https://smba.trafficmanager.net/emea/","locale":"en-US"}`,
		`{"type":"message","value":{"herald":{"action":"startConversation","eventId":"e1","value":{"course":"SEC-101"}}},"channelData":{"tenant":{"id":"t2"}},"from":{"id":"u"}}`,
		`{"type":"conversationUpdate","membersAdded":[{"id":"u1"},{"id":"bot","role":"bot"}],"membersRemoved":[{"id":"u2"}],"conversation":{"id":"c","isGroup":true}}`,
		`{"type":"event","name":"BroadcastEvent","value":{"id":"e","notification":{"message":"m"}},"timestamp":"2026-01-02T03:04:05.123Z","expiration":"2026-01-03T00:00:00+02:00"}`,
		`{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","content":{"type":"AdaptiveCard","body":[]}}],"suggestedActions":{"to":["u"],"actions":[{"type":"imBack","title":"Yes","value":"yes"}]}}`,
		`{"type":"installationUpdate","action":"remove","relatesTo":{"conversation":{"id":"c"},"channelId":"webchat"},"entities":[{"type":"clientInfo","locale":"fr-FR"}]}`,
		`{"type":"message","text":"\u003cb\u003e\u0026 \u2028","channelData":null,"value":null}`,
		`{}`, `[]`, `null`, `{"type":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var a Activity
		if json.Unmarshal(data, &a) != nil {
			return
		}
		_ = a.Reference()
		_ = a.TenantID()
		out, err := json.Marshal(a)
		if err != nil {
			t.Fatalf("an activity that was read cannot be written: %v\n%s", err, data)
		}
		var again Activity
		if err := json.Unmarshal(out, &again); err != nil {
			t.Fatalf("what was written cannot be read: %v\n%s", err, out)
		}
		out2, err := json.Marshal(again)
		if err != nil || !bytes.Equal(out, out2) {
			t.Fatalf("the round trip changed the activity:\n%s\n%s (%v)", out, out2, err)
		}
		if again.Reference().Conversation.ID != a.Reference().Conversation.ID || again.TenantID() != a.TenantID() {
			t.Fatalf("reference or tenant changed in the round trip")
		}
	})
}
