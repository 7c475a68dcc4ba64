-- /chat memory: completed exchanges only. Times are Unix seconds (REAL, UTC).
CREATE TABLE chat_turns (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     INTEGER NOT NULL,
    channel_id  INTEGER NOT NULL,
    prompt      TEXT NOT NULL,
    answer      TEXT NOT NULL,
    model       TEXT NOT NULL,
    created_at  REAL NOT NULL
);
CREATE INDEX chat_turns_by_conversation ON chat_turns (user_id, channel_id, id DESC);
