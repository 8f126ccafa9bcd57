// Package userids does the work on lists of user ids that the store drivers
// do in Go rather than in SQL, the same way for every driver: merging an
// audience page's candidates, picking and dropping preference records by
// id, and finding the ids that have no record yet. It does no I/O.
package userids

import (
	"slices"

	"github.com/herald/herald/internal/prefs"
)

// SortedUnique returns ids sorted, each once, leaving ids as they are.
func SortedUnique(ids []string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	return slices.Compact(out)
}

// Missing returns the ids that have no entry in have, sorted, each once;
// nil if there are none.
func Missing[V any](ids []string, have map[string]V) []string {
	var missing []string
	for _, id := range ids {
		if _, ok := have[id]; !ok {
			missing = append(missing, id)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	slices.Sort(missing)
	return slices.Compact(missing)
}

// Merge completes an audience page's candidates: members holds the topics'
// members after the cursor (up to limit per topic, more set if a topic
// filled it), users the audience's listed people. It adds the listed users
// after the cursor to members and returns them in id order without
// duplicates, up to limit; more says whether candidates may remain.
func Merge(members []string, more bool, users []string, after string, limit int) ([]string, bool) {
	all := members
	for _, u := range users {
		if u > after {
			all = append(all, u)
		}
	}
	slices.Sort(all)
	all = slices.Compact(all)
	if len(all) > limit {
		all, more = all[:limit], true
	}
	return all, more
}

// Pick returns the records found for ids, in the order of ids; an id
// without a record is left out.
func Pick(ids []string, found map[string]prefs.Preferences) []prefs.Preferences {
	var page []prefs.Preferences
	for _, id := range ids {
		if p, ok := found[id]; ok {
			page = append(page, p)
		}
	}
	return page
}

// Drop removes the records of the excluded users from page, in place.
func Drop(page []prefs.Preferences, excluded map[string]bool) []prefs.Preferences {
	kept := page[:0]
	for _, p := range page {
		if !excluded[p.UserID] {
			kept = append(kept, p)
		}
	}
	return kept
}
