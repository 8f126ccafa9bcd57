-- Bot Framework conversation references (where a person talks to the
-- assistant) and the transcripts of herald's own Direct Line conversations.

-- +goose Up
-- Clustered by person: the conversation channel looks references up for a
-- batch of people at a time.
CREATE TABLE conversation_refs (
    user_id         TEXT    NOT NULL,
    id              TEXT    NOT NULL,
    channel_id      TEXT    NOT NULL,
    conversation_id TEXT    NOT NULL,
    service_url     TEXT    NOT NULL,
    tenant_id       TEXT    NOT NULL DEFAULT '',
    account_id      TEXT    NOT NULL DEFAULT '',
    account_name    TEXT    NOT NULL DEFAULT '',
    bot_id          TEXT    NOT NULL DEFAULT '',
    bot_name        TEXT    NOT NULL DEFAULT '',
    locale          TEXT    NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    retired_at      INTEGER,
    retired_reason  TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (user_id, id)
) WITHOUT ROWID, STRICT;

CREATE UNIQUE INDEX conversation_refs_id ON conversation_refs (id);

CREATE TABLE transcripts (
    id         TEXT    PRIMARY KEY,
    user_id    TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    -- last_seq is the watermark of the newest activity.
    last_seq   INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID, STRICT;

CREATE TABLE transcript_activities (
    transcript_id TEXT    NOT NULL,
    seq           INTEGER NOT NULL,
    activity      TEXT    NOT NULL,
    at            INTEGER NOT NULL,
    PRIMARY KEY (transcript_id, seq)
) WITHOUT ROWID, STRICT;

-- +goose Down
DROP TABLE transcript_activities;
DROP TABLE transcripts;
DROP INDEX conversation_refs_id;
DROP TABLE conversation_refs;
