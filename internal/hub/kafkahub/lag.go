package kafkahub

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/herald/herald/internal/hub"
)

// Lag is the group's backlog on topic: for every partition, the end offset
// minus the committed one. Since offsets are committed only up to the lowest
// unsettled record, delivered-but-unsettled records count. A partition the
// group has not committed yet counts from its first record when the group
// has members or other commits; a group that never consumed the topic counts
// 0.
func (h *Hub) Lag(ctx context.Context, topicName, group string) (hub.Lag, error) {
	lag := hub.Lag{Topic: topicName, Group: group}
	t, err := h.topic(ctx, topicName)
	if err != nil {
		return lag, err
	}
	gid := h.groupID(topicName, group)
	committed, err := h.adm.FetchOffsets(ctx, gid)
	if errors.Is(err, kerr.GroupIDNotFound) {
		return lag, nil
	}
	if err != nil {
		return lag, fmt.Errorf("kafkahub: lag of %s: committed offsets: %w", gid, err)
	}
	known := len(committed[t]) > 0
	if !known {
		described, err := h.adm.DescribeGroups(ctx, gid)
		if err != nil {
			return lag, fmt.Errorf("kafkahub: lag of %s: describe group: %w", gid, err)
		}
		g, ok := described[gid]
		known = ok && g.Err == nil && len(g.Members) > 0
	}
	if !known {
		return lag, nil
	}
	ends, err := h.adm.ListEndOffsets(ctx, t)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return lag, fmt.Errorf("kafkahub: lag of %s: end offsets of %s: %w", gid, t, err)
	}
	starts, err := h.adm.ListStartOffsets(ctx, t)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return lag, fmt.Errorf("kafkahub: lag of %s: start offsets of %s: %w", gid, t, err)
	}
	for p, end := range ends[t] {
		from := int64(0)
		if s, ok := starts.Lookup(t, p); ok {
			from = s.Offset
		}
		if c, ok := committed.Lookup(t, p); ok && c.Err == nil && c.At >= 0 {
			from = max(from, c.At)
		}
		if end.Offset > from {
			lag.Pending += uint64(end.Offset - from)
		}
	}
	return lag, nil
}
