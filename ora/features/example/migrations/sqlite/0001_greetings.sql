-- Greetings per Discord user (the example feature's only table).
CREATE TABLE example_greetings (
    user_id INTEGER PRIMARY KEY,
    count   INTEGER NOT NULL,
    last_at REAL NOT NULL
);
