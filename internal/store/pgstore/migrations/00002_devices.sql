-- Push installations (APNs and FCM tokens, Web Push subscriptions) and the
-- per-device delivery records that make push deliveries exactly-once.

-- +goose Up
-- id is derived from (platform, token), so a token registered again finds
-- its row whoever registers it.
CREATE TABLE devices (
    id             text        NOT NULL PRIMARY KEY,
    user_id        text        NOT NULL,
    platform       text        NOT NULL,
    token          text        NOT NULL,
    environment    text        NOT NULL DEFAULT '',
    topic          text        NOT NULL DEFAULT '',
    p256dh         text        NOT NULL DEFAULT '',
    auth           text        NOT NULL DEFAULT '',
    -- Array of strings; NULL when there are none.
    tags           jsonb,
    locale         text        NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    retired_at     timestamptz,
    retired_reason text        NOT NULL DEFAULT ''
);

-- The push channels look devices up for a batch of people at a time.
CREATE INDEX devices_user ON devices (user_id, id);

-- One row per (event, device) that a provider accepted.
CREATE TABLE device_deliveries (
    event_id  text        NOT NULL,
    device_id text        NOT NULL,
    at        timestamptz NOT NULL,
    PRIMARY KEY (event_id, device_id)
);

-- Old records are pruned oldest first: they only matter while an event can
-- still be retried.
CREATE INDEX device_deliveries_at ON device_deliveries (at);

-- +goose Down
DROP TABLE device_deliveries;
DROP TABLE devices;
