-- Bot Framework conversation references (where a person talks to the
-- assistant) and the transcripts of herald's own Direct Line conversations.

-- +goose Up
-- id is derived from (channel, user, conversation).
CREATE TABLE conversation_refs (
    id              text        NOT NULL PRIMARY KEY,
    user_id         text        NOT NULL,
    channel_id      text        NOT NULL,
    conversation_id text        NOT NULL,
    service_url     text        NOT NULL,
    tenant_id       text        NOT NULL DEFAULT '',
    account_id      text        NOT NULL DEFAULT '',
    account_name    text        NOT NULL DEFAULT '',
    bot_id          text        NOT NULL DEFAULT '',
    bot_name        text        NOT NULL DEFAULT '',
    locale          text        NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    retired_at      timestamptz,
    retired_reason  text        NOT NULL DEFAULT ''
);

-- The conversation channel looks references up for a batch of people at a
-- time, in (user, creation) order.
CREATE INDEX conversation_refs_user ON conversation_refs (user_id, created_at, id);

CREATE TABLE transcripts (
    id         text        NOT NULL PRIMARY KEY,
    user_id    text        NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL,
    -- The watermark of the newest activity; appends lock the row.
    last_seq   bigint      NOT NULL DEFAULT 0
);

-- An activity is kept as the text it was given (as sqlitestore does), not
-- parsed.
CREATE TABLE transcript_activities (
    transcript_id text        NOT NULL,
    seq           bigint      NOT NULL,
    activity      text        NOT NULL,
    at            timestamptz NOT NULL,
    PRIMARY KEY (transcript_id, seq)
);

-- +goose Down
DROP TABLE transcript_activities;
DROP TABLE transcripts;
DROP TABLE conversation_refs;
