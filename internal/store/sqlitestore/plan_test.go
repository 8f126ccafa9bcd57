package sqlitestore

import (
	"strings"
	"testing"
)

// TestQueriesUseIndexes checks, with EXPLAIN QUERY PLAN, that the read paths
// seek an index instead of scanning a table or sorting.
func TestQueriesUseIndexes(t *testing.T) {
	t.Parallel()
	s := openTest(t, Options{})
	for _, tc := range []struct {
		name, query string
		args        []any
		want        string // a fragment the plan must contain
		// groupBy allows a temporary b-tree for GROUP BY: it holds one
		// entry per group, a handful here.
		groupBy bool
	}{
		{"list inbox", listInboxSQL(false, false), []any{"u", 10}, "USING INDEX inbox_user_seq", false},
		{"list inbox page", listInboxSQL(true, false), []any{"u", 5, 10}, "USING INDEX inbox_user_seq", false},
		{"list unread", listInboxSQL(false, true), []any{"u", 10}, "USING INDEX inbox_user_seq", false},
		{"list unread page", listInboxSQL(true, true), []any{"u", 5, 10}, "USING INDEX inbox_user_seq", false},
		{"unread count", unreadCountSQL, []any{"u"}, "USING COVERING INDEX inbox_user_seq", false},
		{"mark read", markReadSQL, []any{1, "u", 7, "e"}, "USING INDEX inbox_user_seq (user_id=?)", false},
		{"load preferences", selectPrefsIn(3), []any{"a", "b", "c"}, "USING PRIMARY KEY", false},
		{"event", selectEventSQL, []any{"e"}, "USING INDEX events_id", false},
		{"recorded outcomes", listRecordedSQL, []any{"e"}, "USING PRIMARY KEY", false},
	} {
		rows, err := s.read.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+tc.query, tc.args...)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		text := strings.Join(plan, "; ")
		temp := strings.Contains(text, "TEMP B-TREE") && !(tc.groupBy && strings.Contains(text, "TEMP B-TREE FOR GROUP BY"))
		if !strings.Contains(text, tc.want) || temp {
			t.Errorf("%s: plan %q, want it to contain %q and no temporary b-tree to sort", tc.name, text, tc.want)
		}
	}
}
