-- Topics, their members, and broadcasts: events whose audience is resolved
-- from the store and delivered in user-id order with a durable cursor.

-- +goose Up
CREATE TABLE topics (
    name        text        NOT NULL PRIMARY KEY,
    description text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL
);

-- Keyed by topic then user, so a topic's members are read in user-id order
-- and "is this person in that topic" is one key lookup.
CREATE TABLE members (
    topic   text NOT NULL,
    user_id text NOT NULL,
    PRIMARY KEY (topic, user_id)
);

CREATE TABLE broadcasts (
    event_id    text        NOT NULL PRIMARY KEY,
    -- The canonical event: its notification is the content of every
    -- recipient's inbox item, stored once.
    doc         json        NOT NULL,
    state       text        NOT NULL,
    -- The last user id done; the next chunk starts after it.
    cursor      text        NOT NULL DEFAULT '',
    recipients  integer     NOT NULL DEFAULT 0,
    -- channel -> outcome (or "queued") -> count.
    counts      jsonb       NOT NULL DEFAULT '{}',
    started_at  timestamptz NOT NULL,
    finished_at timestamptz
);

CREATE INDEX broadcasts_running ON broadcasts (started_at) WHERE state = 'running';

-- A shared inbox row carries no content of its own: it is read from the
-- broadcast it belongs to.
ALTER TABLE inbox ADD COLUMN shared boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE inbox DROP COLUMN shared;
DROP TABLE broadcasts;
DROP TABLE members;
DROP TABLE topics;
