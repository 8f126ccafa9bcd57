package cli

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/herald/herald/internal/client"
	"github.com/herald/herald/internal/config"
	"github.com/herald/herald/internal/event"
)

// serverFlags are the settings of commands that talk to a running server.
type serverFlags struct {
	server string
	key    string
}

func (s *serverFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&s.server, "server", "http://127.0.0.1:8080", "herald server URL")
	f.StringVar(&s.key, "key", "", "API key (create one with 'herald keys create')")
	config.MarkSecret(f, "key")
}

func (s *serverFlags) client() (*client.Client, error) {
	if s.key == "" {
		return nil, errors.New("an API key is required: pass --key or set HERALD_KEY (create one with 'herald keys create --role producer')")
	}
	return client.New(s.server, s.key), nil
}

func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// notificationFlags describe one notification on the command line.
type notificationFlags struct {
	users    []string
	topics   []string
	all      bool
	exUsers  []string
	exTopics []string
	title    string
	message  string
	category string
	urgency  string
	source   string
	id       string
}

func (n *notificationFlags) cloudEvent() ([]byte, error) {
	if n.id == "" {
		n.id = randomID()
	}
	notif := map[string]any{"message": n.message}
	if n.title != "" {
		notif["title"] = n.title
	}
	if n.category != "" {
		notif["category"] = n.category
	}
	if n.urgency != "" {
		notif["urgency"] = n.urgency
	}
	audience := map[string]any{}
	if len(n.users) > 0 {
		audience["users"] = n.users
	}
	if len(n.topics) > 0 {
		audience["topics"] = n.topics
	}
	if n.all {
		audience["all"] = true
	}
	if len(n.exUsers) > 0 || len(n.exTopics) > 0 {
		audience["exclude"] = map[string]any{"users": n.exUsers, "topics": n.exTopics}
	}
	return json.Marshal(map[string]any{
		"specversion": "1.0", "id": n.id, "source": n.source, "type": "herald.notification",
		"time": time.Now().UTC().Format(time.RFC3339Nano),
		"data": map[string]any{"audience": audience, "notification": notif},
	})
}

func newSendCmd() *cobra.Command {
	var sf serverFlags
	var n notificationFlags
	var wait time.Duration
	var watch bool
	cmd := &cobra.Command{
		Use:   "send",
		Short: "Send one notification to people, topics or everyone",
		Example: `  herald send --user u1 --title "Training due" --message "Finish security training by Friday" --key $KEY
  herald send --user u1 --user u2 --message "Laptop ready for pickup" --category it --wait 10s
  herald send --topic benefits-eligible --message "Enrollment opened" --watch
  herald send --all --exclude-topic contractors --message "New policy published" --watch`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := resolve(cmd); err != nil {
				return err
			}
			if len(n.users) == 0 && len(n.topics) == 0 && !n.all {
				return errors.New("say who gets it: --user, --topic (each repeatable) or --all")
			}
			if n.message == "" {
				return errors.New("--message is required")
			}
			c, err := sf.client()
			if err != nil {
				return err
			}
			body, err := n.cloudEvent()
			if err != nil {
				return err
			}
			resp, err := c.PostEvents(cmd.Context(), event.MediaCloudEvent, body)
			if err != nil {
				return err
			}
			id := resp.Accepted[0].ID
			fmt.Fprintln(cmd.OutOrStdout(), id)
			if watch {
				return watchEvent(cmd, c, id)
			}
			if wait <= 0 {
				return nil
			}
			return waitForEvent(cmd, c, id, wait)
		},
	}
	sf.register(cmd)
	f := cmd.Flags()
	f.StringArrayVar(&n.users, "user", nil, "recipient user id (repeatable)")
	f.StringArrayVar(&n.topics, "topic", nil, "send to a topic's members (repeatable)")
	f.BoolVar(&n.all, "all", false, "send to everyone herald knows")
	f.StringArrayVar(&n.exUsers, "exclude-user", nil, "leave this person out (repeatable)")
	f.StringArrayVar(&n.exTopics, "exclude-topic", nil, "leave this topic's members out (repeatable)")
	f.BoolVar(&watch, "watch", false, "show a progress bar until every delivery is done")
	f.StringVar(&n.title, "title", "", "notification title")
	f.StringVar(&n.message, "message", "", "notification text (required)")
	f.StringVar(&n.category, "category", "", "category, which people can switch off in their preferences")
	f.StringVar(&n.urgency, "urgency", "", "low, normal or high")
	f.StringVar(&n.source, "source", "urn:herald:cli", "CloudEvent source")
	f.StringVar(&n.id, "id", "", "CloudEvent id (default random); the same source and id are delivered once")
	f.DurationVar(&wait, "wait", 0, "wait up to this long for every delivery to finish and print the outcomes")
	return cmd
}

// eventStatus mirrors the API's event status for printing.
type eventStatus struct {
	State    string `json:"state"`
	Targeted int    `json:"targeted"`
	Pending  int    `json:"pending"`
	Channels map[string]struct {
		Outcomes map[string]int `json:"outcomes"`
	} `json:"channels"`
}

// waitForEvent polls an event's status until nothing is pending.
func waitForEvent(cmd *cobra.Command, c *client.Client, id string, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		var st eventStatus
		err := c.Do(cmd.Context(), http.MethodGet, "/v1/events/"+id, "", nil, &st)
		var ae *client.APIError
		switch {
		case errors.As(err, &ae) && ae.Status == http.StatusNotFound:
		case err != nil:
			return err
		case st.State == "completed" || st.State == "cancelled":
			names := make([]string, 0, len(st.Channels))
			for ch := range st.Channels {
				names = append(names, ch)
			}
			sort.Strings(names)
			for _, ch := range names {
				outcomes := st.Channels[ch].Outcomes
				kinds := make([]string, 0, len(outcomes))
				for o := range outcomes {
					kinds = append(kinds, o)
				}
				sort.Strings(kinds)
				parts := make([]string, len(kinds))
				for i, o := range kinds {
					parts[i] = fmt.Sprintf("%s %d", o, outcomes[o])
				}
				fmt.Fprintf(cmd.OutOrStdout(), "  %-13s %s\n", ch, strings.Join(parts, ", "))
			}
			return nil
		}
		if time.Now().After(deadline) {
			return &exitError{code: 2, err: fmt.Errorf("event %s not completed within %s (state %q, %d pending)", id, wait, st.State, st.Pending)}
		}
		select {
		case <-cmd.Context().Done():
			return cmd.Context().Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// registerPersistent registers the server flags on cmd and its subcommands.
func (s *serverFlags) registerPersistent(cmd *cobra.Command) {
	f := cmd.PersistentFlags()
	f.StringVar(&s.server, "server", "http://127.0.0.1:8080", "herald server URL")
	f.StringVar(&s.key, "key", "", "API key (create one with 'herald keys create')")
	config.MarkSecret(f, "key")
}

// resolvedClient applies environment and config file to cmd's flags, then
// returns a client.
func (s *serverFlags) resolvedClient(cmd *cobra.Command) (*client.Client, error) {
	if err := resolve(cmd); err != nil {
		return nil, err
	}
	return s.client()
}

// watchEvent draws a progress bar of an event's deliveries until nothing is
// pending (or the broadcast is cancelled), then prints the outcomes.
func watchEvent(cmd *cobra.Command, c *client.Client, id string) error {
	w := cmd.ErrOrStderr()
	start := time.Now()
	for {
		var st struct {
			eventStatus
			Broadcast *struct {
				State      string `json:"state"`
				Recipients int    `json:"recipients"`
			} `json:"broadcast"`
		}
		err := c.Do(cmd.Context(), http.MethodGet, "/v1/events/"+id, "", nil, &st)
		var ae *client.APIError
		switch {
		case errors.As(err, &ae) && ae.Status == http.StatusNotFound:
			fmt.Fprintf(w, "\r  queued...")
		case err != nil:
			return err
		default:
			done := st.Targeted - st.Pending
			people := len(st.Channels)
			if people > 0 {
				people = st.Targeted / people
			}
			state := st.State
			if st.Broadcast != nil {
				people = st.Broadcast.Recipients
			}
			progress := bar(done, st.Targeted, 30)
			if st.Broadcast != nil && st.Broadcast.State == "running" {
				// The audience's size is known only once it has been visited.
				progress = "[ resolving the audience ]"
			}
			fmt.Fprintf(w, "\r  %s %d people, %d of %d deliveries decided, %s, %s   ", progress, people, done, st.Targeted, state, time.Since(start).Round(100*time.Millisecond))
			if st.State == "completed" || st.State == "cancelled" {
				fmt.Fprintln(w)
				return waitForEvent(cmd, c, id, time.Second)
			}
		}
		select {
		case <-cmd.Context().Done():
			fmt.Fprintln(w)
			return cmd.Context().Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// bar draws a text progress bar of width cells.
func bar(done, total, width int) string {
	filled := width
	if total > 0 {
		filled = min(width, done*width/total)
	}
	return "[" + strings.Repeat("#", filled) + strings.Repeat(".", width-filled) + "]"
}
