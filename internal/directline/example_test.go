package directline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"github.com/herald/herald/internal/activity"
	"github.com/herald/herald/internal/directline"
	"github.com/herald/herald/internal/store/sqlitestore"
)

// Serve Direct Line with a bot that answers in-process, start a
// conversation with a token minted for a person, post to it and read it.
func ExampleNew() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "herald-directline-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	st, err := sqlitestore.Open(ctx, filepath.Join(dir, "herald.db"), sqlitestore.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()

	var dl *directline.Server
	bot := directline.BotFunc(func(ctx context.Context, a activity.Activity) error {
		if a.Type != activity.TypeMessage {
			return nil
		}
		_, err := dl.Send(ctx, a.Conversation.ID, activity.Activity{Type: activity.TypeMessage, Text: "You said: " + a.Text})
		return err
	})
	dl, err = directline.New(directline.Config{Secret: "s3cret", Transcripts: st, Bot: bot})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(directline.BasePath, dl)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer dl.Shutdown(ctx)

	// herald's own route would do this for a signed-in person.
	conv, err := dl.GenerateToken(activity.ChannelAccount{ID: "ada", Name: "Ada"})
	if err != nil {
		log.Fatal(err)
	}
	call := func(method, path, body string) *http.Response {
		req, _ := http.NewRequest(method, srv.URL+"/v3/directline"+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+conv.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		return resp
	}
	fmt.Println("start:", call("POST", "/conversations", "").Status)
	fmt.Println("post:", call("POST", "/conversations/"+conv.ConversationID+"/activities", `{"type":"message","text":"hi"}`).Status)

	resp := call("GET", "/conversations/"+conv.ConversationID+"/activities?watermark=0", "")
	defer resp.Body.Close()
	var set directline.ActivitySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		log.Fatal(err)
	}
	for _, raw := range set.Activities {
		var a activity.Activity
		_ = json.Unmarshal(raw, &a)
		fmt.Printf("%s: %s\n", a.From.ID, a.Text)
	}
	fmt.Println("watermark:", set.Watermark)
	// Output:
	// start: 201 Created
	// post: 200 OK
	// ada: hi
	// herald: You said: hi
	// watermark: 2
}
