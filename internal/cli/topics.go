package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/herald/herald/internal/store"
)

func newTopicsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "topics", Short: "Manage topics (named groups such as departments) and their members"}
	var sf serverFlags
	sf.registerPersistent(cmd)

	list := &cobra.Command{
		Use: "list", Short: "List topics with their member counts", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := sf.resolvedClient(cmd)
			if err != nil {
				return err
			}
			var out struct {
				Topics []store.Topic `json:"topics"`
			}
			if err := c.Do(cmd.Context(), http.MethodGet, "/v1/topics", "", nil, &out); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tMEMBERS\tDESCRIPTION")
			for _, t := range out.Topics {
				fmt.Fprintf(tw, "%s\t%d\t%s\n", t.Name, t.Members, t.Description)
			}
			return tw.Flush()
		},
	}
	var description string
	create := &cobra.Command{
		Use: "create NAME", Short: "Create a topic", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := sf.resolvedClient(cmd)
			if err != nil {
				return err
			}
			body, _ := json.Marshal(map[string]string{"name": args[0], "description": description})
			return c.Do(cmd.Context(), http.MethodPost, "/v1/topics", "application/json", body, nil)
		},
	}
	create.Flags().StringVar(&description, "description", "", "what the topic is")
	del := &cobra.Command{
		Use: "delete NAME", Short: "Delete a topic and its memberships", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := sf.resolvedClient(cmd)
			if err != nil {
				return err
			}
			return c.Do(cmd.Context(), http.MethodDelete, "/v1/topics/"+url.PathEscape(args[0]), "", nil, nil)
		},
	}
	members := func(use, short, method, key string) *cobra.Command {
		return &cobra.Command{
			Use: use + " TOPIC USER...", Short: short, Args: cobra.MinimumNArgs(2),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, err := sf.resolvedClient(cmd)
				if err != nil {
					return err
				}
				body, _ := json.Marshal(map[string][]string{"users": args[1:]})
				var out map[string]int
				if err := c.Do(cmd.Context(), method, "/v1/topics/"+url.PathEscape(args[0])+"/members", "application/json", body, &out); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s %d\n", key, out[key])
				return nil
			},
		}
	}
	listMembers := &cobra.Command{
		Use: "members TOPIC", Short: "List a topic's members", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := sf.resolvedClient(cmd)
			if err != nil {
				return err
			}
			after := ""
			for {
				var page struct {
					Members []string `json:"members"`
					Next    string   `json:"next"`
				}
				path := "/v1/topics/" + url.PathEscape(args[0]) + "/members?limit=10000&after=" + url.QueryEscape(after)
				if err := c.Do(cmd.Context(), http.MethodGet, path, "", nil, &page); err != nil {
					return err
				}
				for _, m := range page.Members {
					fmt.Fprintln(cmd.OutOrStdout(), m)
				}
				if page.Next == "" {
					return nil
				}
				after = page.Next
			}
		},
	}
	cmd.AddCommand(list, create, del, listMembers,
		members("add", "Add people to a topic", http.MethodPost, "added"),
		members("remove", "Remove people from a topic", http.MethodDelete, "removed"))
	return cmd
}
