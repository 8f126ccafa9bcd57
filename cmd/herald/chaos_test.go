package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald/herald/internal/activity"
	"github.com/herald/herald/internal/channel/conversation"
	"github.com/herald/herald/internal/channel/push"
	"github.com/herald/herald/internal/channel/push/pushtest"
	"github.com/herald/herald/internal/client"
	"github.com/herald/herald/internal/connector/connectortest"
	"github.com/herald/herald/internal/event"
)

// chaosSize is the load: HERALD_CHAOS_EVENTS and HERALD_CHAOS_KILLS (make
// chaos sets the 100,000 events), else a size CI affords.
func chaosSize() (events, kills int) {
	events, kills = 3000, 3
	if v, err := strconv.Atoi(os.Getenv("HERALD_CHAOS_EVENTS")); err == nil && v > 0 {
		events = v
	}
	if v, err := strconv.Atoi(os.Getenv("HERALD_CHAOS_KILLS")); err == nil && v > 0 {
		kills = v
	}
	return events, kills
}

// TestChaosKillsLoseNothing SIGKILLs `herald serve` at random moments while
// events stream in and a broadcast runs, restarting it each time, with
// three sinks: the inbox, a local Web Push service (with a browser behind
// each subscription running herald's service worker) and a local Bot
// Connector (Teams). Every notification must reach every sink: the inbox
// exactly once; the browsers must show each notification exactly once. The
// external services themselves may receive a send twice when a kill cut it
// off between the provider's answer and herald's record of it (no provider
// takes an idempotency key herald could use, see RELIABILITY.md): these raw
// repeats are counted, reported, and bounded by what was in flight.
func TestChaosKillsLoseNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos test skipped in -short mode")
	}
	events, kills := chaosSize()
	// About 15 notifications per person, so Teams' per-conversation
	// limits (60 in 30 s) do not set the pace.
	users := max(50, events/15)
	dir := t.TempDir()
	teams := connectortest.New(t)
	web := pushtest.NewWebPushPeer(t)
	web.SetKeep(false)
	vapid := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(runCLI(t, nil, "vapid", "generate")), "\n") {
		k, v, _ := strings.Cut(line, "=")
		vapid[k] = v
	}
	for k, v := range map[string]string{
		"SSL_CERT_FILE":            web.WriteCA(t, dir),
		"HERALD_VAPID_PUBLIC_KEY":  vapid["HERALD_VAPID_PUBLIC_KEY"],
		"HERALD_VAPID_PRIVATE_KEY": vapid["HERALD_VAPID_PRIVATE_KEY"],
		"HERALD_VAPID_SUBJECT":     "mailto:ops@example.com",
		"HERALD_OUTBOUND_ALLOW":    "127.0.0.0/8",
		// Above the conversation channel's 5 s wait for its rate limits,
		// so a slow batch is not handed to another worker while it runs.
		"HERALD_ACK_WAIT":        "10s",
		"HERALD_BOT_TENANT_RATE": "100000", // Teams' 50/s would make this a test of patience
	} {
		t.Setenv(k, v)
	}
	dataDir := filepath.Join(dir, "data")
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		t.Fatal(err)
	}
	key := strings.TrimSpace(runCLI(t, nil, "keys", "create", "--role", "admin", "--data", dataDir))
	addr := freeAddr(t)
	var procMu sync.Mutex
	proc := startServe(t, dataDir, addr)
	t.Cleanup(func() { procMu.Lock(); proc.kill(); procMu.Unlock() })
	c := client.New("http://"+addr, key)

	// Everyone is known before the load (so the broadcast to everyone has
	// a fixed audience), talks to the assistant in Teams (anonymous mode:
	// no app id) and has a browser subscribed to Web Push.
	var people strings.Builder
	people.WriteString("id\n")
	for u := range users {
		fmt.Fprintf(&people, "u%d\n", u)
	}
	if err := c.DoStream(context.Background(), http.MethodPost, "/v1/users:import", "text/csv", strings.NewReader(people.String()), nil); err != nil {
		t.Fatalf("import people: %v", err)
	}
	for u := range users {
		user := fmt.Sprintf("u%d", u)
		install := activity.Activity{Type: "conversationUpdate", ChannelID: "msteams", ServiceURL: teams.URL(),
			Recipient: &activity.ChannelAccount{ID: "28:bot"}, Conversation: &activity.ConversationAccount{ID: "a:" + user},
			MembersAdded: []activity.ChannelAccount{{ID: user}}}
		raw, _ := json.Marshal(install)
		resp, err := http.Post("http://"+addr+"/api/messages", "application/json", bytes.NewReader(raw))
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("install for %s: %v %v", user, err, resp)
		}
		resp.Body.Close()
		endpoint, sub := web.Subscribe()
		body, _ := json.Marshal(map[string]any{"platform": "webpush", "subscription": map[string]any{"endpoint": endpoint,
			"keys": map[string]string{"p256dh": sub.P256dh(), "auth": sub.AuthSecret()}}})
		if err := c.Do(context.Background(), http.MethodPost, client.UserPath(user, "/devices"), "application/json", body, nil); err != nil {
			t.Fatal(err)
		}
	}

	// The chaos: kills at random moments, each followed by a restart.
	stopChaos := make(chan struct{})
	var killed atomic.Int64
	var killedAt []time.Time // read after chaos.Wait
	var chaos sync.WaitGroup
	chaos.Go(func() {
		rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
		for range kills {
			select {
			case <-stopChaos:
				return
			case <-time.After(time.Duration(300+rng.IntN(1200)) * time.Millisecond):
			}
			procMu.Lock()
			killedAt = append(killedAt, time.Now())
			proc.kill()
			killed.Add(1)
			proc = startServe(t, dataDir, addr)
			procMu.Unlock()
		}
	})

	// The load: single-person events from four producers that retry until
	// accepted (as real producers do), and a broadcast to everyone.
	var mu sync.Mutex
	accepted := map[string]string{}
	requests := make(chan []string)
	var producers sync.WaitGroup
	post := func(body []byte, contentType string) ([]string, error) {
		for {
			resp, err := c.PostEvents(context.Background(), contentType, body)
			if err == nil {
				var ids []string
				for _, a := range resp.Accepted {
					ids = append(ids, a.ID)
				}
				return ids, nil
			}
			var ae *client.APIError
			if errors.As(err, &ae) && !ae.Retryable() {
				return nil, err
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for range 4 {
		producers.Go(func() {
			for ids := range requests {
				if _, err := post(batchBody(ids, users), event.MediaCloudEventBatch); err != nil {
					t.Errorf("request refused: %v", err)
					continue
				}
				mu.Lock()
				for _, id := range ids {
					accepted[event.IDFor("urn:crash", id)] = userFor(id, users)
				}
				mu.Unlock()
			}
		})
	}
	start := time.Now()
	for i := 0; i < events; i += 20 {
		ids := make([]string, 0, 20)
		for j := i; j < min(i+20, events); j++ {
			ids = append(ids, fmt.Sprintf("crash-%d", j))
		}
		requests <- ids
		if i == events/2 {
			bc := []byte(`{"specversion":"1.0","id":"chaos-broadcast","source":"urn:chaos","type":"t","data":{"audience":{"all":true},"notification":{"message":"event chaos-broadcast"}}}`)
			if _, err := post(bc, event.MediaCloudEvent); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(requests)
	producers.Wait()
	chaos.Wait() // the kills go on while the backlog is delivered
	close(stopChaos)
	t.Logf("%d events and a broadcast accepted in %s with %d SIGKILLs", len(accepted), time.Since(start).Round(time.Millisecond), killed.Load())
	if len(accepted) != events {
		t.Fatalf("%d distinct events accepted, want %d", len(accepted), events)
	}

	// Expected in Teams: each event in its person's conversation, and the
	// broadcast in everyone's (told apart by the message, the summary).
	expected := map[string]bool{}
	for i := range events {
		id := fmt.Sprintf("crash-%d", i)
		expected["a:"+userFor(id, users)+"|event "+id] = true
	}
	for u := range users {
		expected[fmt.Sprintf("a:u%d|event chaos-broadcast", u)] = true
	}
	broadcastID := event.IDFor("urn:chaos", "chaos-broadcast")
	// Deliveries retried after the kills wait out their backoff; a big run
	// needs longer.
	deadline := time.Now().Add(3*time.Minute + time.Duration(events/1000)*6*time.Second)
	lastLog := time.Now()
	for {
		inbox := inboxPairs(t, c, users)
		inboxTotal, inboxMissing := 0, 0
		for id, user := range accepted {
			inbox[user+"|"+id] -= 1
		}
		for u := range users {
			inbox[fmt.Sprintf("u%d|%s", u, broadcastID)] -= 1
		}
		for k, n := range inbox {
			switch {
			case n > 0:
				t.Fatalf("inbox %s: %d more than expected (a duplicate or a stranger's)", k, n)
			case n < 0:
				inboxMissing++
			default:
				inboxTotal++
			}
		}
		// Teams shows every send, repeats included (no collapse id).
		perMsg := teams.Shown(func(r connectortest.Received) string { return r.Conversation + "|" + r.Activity.Summary })
		teamsMissing, teamsDup := 0, 0
		for k := range expected {
			switch n := perMsg[k]; {
			case n == 0:
				teamsMissing++
			case n > 1:
				teamsDup += n - 1
			}
		}
		if len(perMsg) > len(expected) {
			t.Fatalf("Teams received %d distinct messages, more than the %d sent", len(perMsg), len(expected))
		}
		acc := web.Accepted()
		if inboxMissing == 0 && inboxTotal == events+users && teamsMissing == 0 && len(acc) == len(expected) {
			webRaw, webShownDup := web.Repeats()
			shown := web.Shown()
			teamsFlight, webFlight := teams.MaxInFlight(), web.MaxInFlight()
			// How close to a kill was each repeat's first copy accepted?
			teamsFirst := map[string]time.Time{}
			var teamsNear time.Duration
			for _, r := range teams.Received() {
				k := r.Conversation + "|" + r.Activity.Summary
				if at, seen := teamsFirst[k]; seen {
					teamsNear = max(teamsNear, nearestKill(at, killedAt))
				} else {
					teamsFirst[k] = r.At
				}
			}
			var webNear time.Duration
			firstAt := web.FirstAccepted()
			for id, n := range acc {
				if n > 1 {
					webNear = max(webNear, nearestKill(firstAt[id], killedAt))
				}
			}
			t.Logf("after %d SIGKILLs: inbox %d, exactly once. Teams: %d messages, %d raw repeats, each shown (the Connector has no "+
				"collapse id); at most %d sends in flight; %s. Web Push: %d messages, "+
				"%d raw repeats, %d shown twice by the browsers; at most %d sends in flight; %s. "+
				"(A raw repeat is a send a kill cut off between the provider's answer and herald's record of it.)",
				killed.Load(), inboxTotal, len(expected), teamsDup, teamsFlight, nearText(teamsDup, teamsNear),
				len(acc), webRaw, webShownDup, webFlight, nearText(webRaw, webNear))
			// What each browser shows is exactly once: a repeat carries the
			// tag of the notification shown, and replaces it.
			if webShownDup != 0 || len(shown) != len(expected) {
				t.Fatalf("the browsers show %d distinct notifications of %d, %d of them more than once", len(shown), len(expected), webShownDup)
			}
			// A kill repeats at most the sends it cut off: those in flight
			// or answered and waiting for their record, which each channel
			// holds to 2 x its workers (package sentlog).
			kills := int(killed.Load())
			if limit := kills * 2 * conversation.DefaultWorkers; teamsDup > limit {
				t.Fatalf("%d Teams repeats after %d kills: more than the %d sends in flight or unrecorded that %d kills can cut off", teamsDup, kills, limit, kills)
			}
			if limit := kills * 2 * push.DefaultWorkers; webRaw > limit {
				t.Fatalf("%d Web Push repeats after %d kills: more than the %d sends in flight or unrecorded that %d kills can cut off", webRaw, kills, limit, kills)
			}
			return
		}
		if time.Since(lastLog) > 5*time.Second {
			lastLog = time.Now()
			t.Logf("waiting: inbox %d of %d; Teams %d missing; Web Push %d of %d", inboxTotal, events+users, teamsMissing, len(acc), len(expected))
		}
		if time.Now().After(deadline) {
			var missing []string
			for k, n := range inbox {
				if n < 0 && len(missing) < 20 {
					missing = append(missing, k)
				}
			}
			var dls struct {
				DeadLetters []struct {
					Topic, Reason string
					Events        []string
				} `json:"deadLetters"`
			}
			_ = c.Do(context.Background(), http.MethodGet, "/v1/deadletters", "", nil, &dls)
			t.Logf("missing from inboxes (user|event): %v", missing)
			t.Logf("dead letters: %+v", dls)
			t.Fatalf("inbox %d of %d (%d missing); Teams %d of %d missing; Web Push %d of %d (rejected: %v)",
				inboxTotal, events+users, inboxMissing, teamsMissing, len(expected), len(acc), len(expected), web.Rejected())
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// nearText says how close to a kill the repeats' first copies were.
func nearText(repeats int, near time.Duration) string {
	if repeats == 0 {
		return "no repeat"
	}
	return "repeats' first copies at most " + near.Round(time.Millisecond).String() + " from a kill"
}

// nearestKill is how far at lies from the closest kill. A send in flight
// when its process was killed may still be accepted by the peer just
// after the kill.
func nearestKill(at time.Time, kills []time.Time) time.Duration {
	best := time.Duration(math.MaxInt64)
	for _, k := range kills {
		best = min(best, max(k.Sub(at), at.Sub(k)))
	}
	return best
}
