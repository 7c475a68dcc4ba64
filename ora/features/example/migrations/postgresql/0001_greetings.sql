-- Greetings per Discord user (the example feature's only table).
CREATE TABLE example_greetings (
    user_id BIGINT PRIMARY KEY,
    count   INTEGER NOT NULL,
    last_at DOUBLE PRECISION NOT NULL
);
