-- Push installations (APNs and FCM tokens, Web Push subscriptions) and the
-- per-device delivery records that make push deliveries exactly-once.

-- +goose Up
-- id is derived from (platform, token), so a token registered again finds
-- its row whoever registers it. The rows are clustered by person: the push
-- channels look devices up for a batch of people at a time, and reading
-- each person's devices from one place of the primary-key b-tree, with no
-- index hop, made that lookup several times faster.
CREATE TABLE devices (
    user_id        TEXT    NOT NULL,
    id             TEXT    NOT NULL,
    platform       TEXT    NOT NULL,
    token          TEXT    NOT NULL,
    environment    TEXT    NOT NULL DEFAULT '',
    topic          TEXT    NOT NULL DEFAULT '',
    p256dh         TEXT    NOT NULL DEFAULT '',
    auth           TEXT    NOT NULL DEFAULT '',
    -- JSON array of strings; NULL when there are none.
    tags           TEXT,
    locale         TEXT    NOT NULL DEFAULT '',
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    retired_at     INTEGER,
    retired_reason TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (user_id, id)
) WITHOUT ROWID, STRICT;

-- A device by id: registration (which may move it to another person),
-- retirement and deletion.
CREATE UNIQUE INDEX devices_id ON devices (id);

-- One row per (event, device) that a provider accepted.
CREATE TABLE device_deliveries (
    event_id  TEXT    NOT NULL,
    device_id TEXT    NOT NULL,
    at        INTEGER NOT NULL,
    PRIMARY KEY (event_id, device_id)
) WITHOUT ROWID, STRICT;

-- Old records are pruned oldest first: they only matter while an event can
-- still be retried.
CREATE INDEX device_deliveries_at ON device_deliveries (at);

-- +goose Down
DROP INDEX device_deliveries_at;
DROP TABLE device_deliveries;
DROP INDEX devices_id;
DROP TABLE devices;
