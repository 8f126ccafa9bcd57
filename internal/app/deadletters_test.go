package app_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/herald/herald/internal/cli"
	"github.com/herald/herald/internal/client"
	"github.com/herald/herald/internal/hub"
)

// poison publishes n messages no ingest would produce on the events topic
// and waits until the handler has dead-lettered all of them.
func (b *bundle) poison(t *testing.T, prefix string, n int) {
	t.Helper()
	ctx := context.Background()
	before, err := b.app.Hub.DeadLetters(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := b.app.Hub.Publish(ctx, hub.TopicEvents, hub.Message{Key: fmt.Sprintf("%s-%d", prefix, i), Data: []byte("{" + prefix)}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 20*time.Second, "poison events dead-lettered", func() (bool, string) {
		dls, err := b.app.Hub.DeadLetters(ctx, 0, 1000)
		return err == nil && len(dls) == len(before)+n, fmt.Sprintf("%d dead letters, %v", len(dls), err)
	})
}

type dlList struct {
	DeadLetters []struct {
		Seq       uint64 `json:"seq"`
		Topic     string `json:"topic"`
		Reason    string `json:"reason"`
		Attempts  int    `json:"attempts"`
		LastError string `json:"lastError"`
		Data      string `json:"data"`
	} `json:"deadLetters"`
}

func (b *bundle) deadLetters(t *testing.T) dlList {
	t.Helper()
	var l dlList
	if err := b.admin.Do(context.Background(), http.MethodGet, "/v1/deadletters", "", nil, &l); err != nil {
		t.Fatal(err)
	}
	return l
}

func status(err error) int {
	var ae *client.APIError
	if errors.As(err, &ae) {
		return ae.Status
	}
	return 0
}

// TestDeadLetterRoutes: operators delete one dead letter, purge and replay
// by filter (dry run first), and an empty filter is refused rather than
// read as "everything".
func TestDeadLetterRoutes(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	ctx := context.Background()
	b.poison(t, "alpha", 2)
	b.poison(t, "beta", 3)
	l := b.deadLetters(t)
	if len(l.DeadLetters) != 5 || l.DeadLetters[0].Attempts < 1 || !strings.Contains(l.DeadLetters[0].LastError, "undecodable") {
		t.Fatalf("dead letters: %+v", l)
	}

	first := l.DeadLetters[0].Seq
	if err := b.admin.Do(ctx, http.MethodDelete, fmt.Sprintf("/v1/deadletters/%d", first), "", nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := b.admin.Do(ctx, http.MethodDelete, fmt.Sprintf("/v1/deadletters/%d", first), "", nil, nil); status(err) != 404 {
		t.Fatalf("deleting it again: %v, want 404", err)
	}
	if n := len(b.deadLetters(t).DeadLetters); n != 4 {
		t.Fatalf("%d dead letters after deleting one, want 4", n)
	}

	for _, body := range []string{``, `{}`, `{"dryRun": true}`, `{"topic": "dlq"}`, `{"olderThan": "soon"}`, `{"colour": "red"}`} {
		err := b.admin.Do(ctx, http.MethodPost, "/v1/deadletters:purge", "application/json", []byte(body), nil)
		if status(err) != 400 {
			t.Errorf("purge with %q: %v, want 400", body, err)
		}
	}
	type answer struct {
		DryRun      bool                   `json:"dryRun"`
		Matched     int                    `json:"matched"`
		Purged      *int                   `json:"purged"`
		Replayed    *int                   `json:"replayed"`
		DeadLetters []struct{ Seq uint64 } `json:"deadLetters"`
	}
	var dry answer
	if err := b.admin.Do(ctx, http.MethodPost, "/v1/deadletters:purge", "application/json",
		[]byte(`{"reason": "UNDECODABLE", "topic": "events", "dryRun": true}`), &dry); err != nil {
		t.Fatal(err)
	}
	if !dry.DryRun || dry.Matched != 4 || dry.Purged != nil || len(dry.DeadLetters) != 4 {
		t.Fatalf("dry run answered %+v", dry)
	}
	if n := len(b.deadLetters(t).DeadLetters); n != 4 {
		t.Fatalf("a dry run purged: %d left", n)
	}

	var replayed answer
	if err := b.admin.Do(ctx, http.MethodPost, "/v1/deadletters:replay", "application/json", []byte(`{"all": true}`), &replayed); err != nil {
		t.Fatal(err)
	}
	if replayed.Matched != 4 || replayed.Replayed == nil || *replayed.Replayed != 4 {
		t.Fatalf("replay answered %+v", replayed)
	}
	eventually(t, 20*time.Second, "the replayed poison dead-lettered again", func() (bool, string) {
		n := len(b.deadLetters(t).DeadLetters)
		return n == 8, fmt.Sprintf("%d dead letters", n)
	})

	var purged answer
	if err := b.admin.Do(ctx, http.MethodPost, "/v1/deadletters:purge", "application/json", []byte(`{"olderThan": "1ns"}`), &purged); err != nil {
		t.Fatal(err)
	}
	if purged.Purged == nil || *purged.Purged != 8 {
		t.Fatalf("purge older than 1ns answered %+v", purged)
	}
	if n := len(b.deadLetters(t).DeadLetters); n != 0 {
		t.Fatalf("%d dead letters after purging all", n)
	}
	if err := b.producer.Do(ctx, http.MethodPost, "/v1/deadletters:purge", "application/json", []byte(`{"all": true}`), nil); status(err) != 403 {
		t.Fatalf("a producer purging: %v, want 403", err)
	}
}

// runHerald runs the command line in process and returns its output.
func runHerald(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := cli.Execute(context.Background(), args, &out, &errOut)
	if code != 0 {
		return out.String(), fmt.Errorf("herald %s: exit %d: %s", strings.Join(args, " "), code, errOut.String())
	}
	return out.String(), nil
}

// TestDLQCommands: herald dlq purge lists what it would remove until told
// --yes; replay takes a filter; a purge without a selection is refused.
func TestDLQCommands(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	b.poison(t, "gamma", 2)
	b.poison(t, "delta", 1)
	srv := []string{"--server", b.url, "--key", b.keys["admin"]}
	dlq := func(args ...string) string {
		t.Helper()
		out, err := runHerald(t, append(append([]string{"dlq"}, args...), srv...)...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if out := dlq("list"); strings.Count(out, "events") != 3 || !strings.Contains(out, "LAST ERROR") {
		t.Fatalf("dlq list:\n%s", out)
	}
	if _, err := runHerald(t, append([]string{"dlq", "purge"}, srv...)...); err == nil || !strings.Contains(err.Error(), "--all, --filter or --older-than") {
		t.Fatalf("purge without a selection: %v", err)
	}
	if _, err := runHerald(t, append([]string{"dlq", "purge", "--filter", "colour=red"}, srv...)...); err == nil || !strings.Contains(err.Error(), "unknown key") {
		t.Fatalf("purge with a bad filter: %v", err)
	}
	out := dlq("purge", "--filter", "topic=events,reason~=undecodable")
	if !strings.Contains(out, "3 dead letter(s) would be purged") || strings.Count(out, "events") != 3 {
		t.Fatalf("purge without --yes:\n%s", out)
	}
	if n := len(b.deadLetters(t).DeadLetters); n != 3 {
		t.Fatalf("purge without --yes removed something: %d left", n)
	}
	if out := dlq("replay", "--all"); !strings.Contains(out, "replayed 3 dead letter(s)") {
		t.Fatalf("replay --all: %s", out)
	}
	eventually(t, 20*time.Second, "the replayed poison dead-lettered again", func() (bool, string) {
		n := len(b.deadLetters(t).DeadLetters)
		return n == 6, fmt.Sprintf("%d dead letters", n)
	})
	seq := b.deadLetters(t).DeadLetters[0].Seq
	if out := dlq("purge", fmt.Sprint(seq)); !strings.Contains(out, "would purge") {
		t.Fatalf("purge SEQ without --yes: %s", out)
	}
	if out := dlq("purge", fmt.Sprint(seq), "--yes"); !strings.Contains(out, fmt.Sprintf("purged %d", seq)) {
		t.Fatalf("purge SEQ --yes: %s", out)
	}
	if out := dlq("purge", "--all", "--yes"); !strings.Contains(out, "purged 5 dead letter(s)") {
		t.Fatalf("purge --all --yes: %s", out)
	}
	if n := len(b.deadLetters(t).DeadLetters); n != 0 {
		t.Fatalf("%d dead letters after purge --all --yes", n)
	}
}
