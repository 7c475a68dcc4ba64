-- State that must outlive a process or be shared by several on one database.

-- Each running process (replica), with a heartbeat. A lease, a job or an answer in progress whose owner no
-- longer beats belongs to nobody and is taken over.
CREATE TABLE replicas (
    owner        TEXT PRIMARY KEY,  -- a random id per process run
    name         TEXT NOT NULL,     -- ORA_REPLICA_NAME
    host         TEXT NOT NULL,
    pid          INTEGER NOT NULL,
    started_at   REAL NOT NULL,
    heartbeat_at REAL NOT NULL
);

-- Counted leases: at most so many holders per subject and in all (chat answers, dataset adds in progress).
CREATE TABLE leases (
    name       TEXT NOT NULL,
    holder     TEXT NOT NULL,              -- a random id per lease
    subject    TEXT NOT NULL,              -- e.g. a Discord user id
    amount     INTEGER NOT NULL DEFAULT 0, -- e.g. bytes reserved
    owner      TEXT NOT NULL,              -- replicas.owner
    expires_at REAL NOT NULL,
    PRIMARY KEY (name, holder)
);
CREATE INDEX leases_by_subject ON leases (name, subject);

-- Durable background work: claimed by one process at a time, retried with back-off, resumed after a crash.
CREATE TABLE jobs (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    kind           TEXT NOT NULL,
    subject        TEXT NOT NULL,          -- what the job is about, one job per kind and subject
    user_id        INTEGER,                -- the Discord user it is for
    payload        TEXT NOT NULL DEFAULT '{}',
    state          TEXT NOT NULL CHECK (state IN ('pending', 'running', 'done', 'failed')),
    attempts       INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_at        REAL NOT NULL,          -- when a pending job is due
    last_error     TEXT,
    lease_owner    TEXT,                   -- replicas.owner of the process running it
    interaction_id INTEGER,                -- the interaction whose reply shows the outcome, if any
    created_at     REAL NOT NULL,
    updated_at     REAL NOT NULL,
    UNIQUE (kind, subject)
);
CREATE INDEX jobs_due ON jobs (kind, state, next_at);

-- Interactions whose reply may still be edited: an answer being written (`answering` = 1: if its process dies,
-- another one says it was interrupted), or a reply a job will complete. The token is kept only while it is
-- valid (Discord's 15 minutes) and deleted after.
CREATE TABLE interactions (
    interaction_id INTEGER PRIMARY KEY,
    application_id INTEGER NOT NULL,
    token          TEXT NOT NULL,
    feature        TEXT NOT NULL,
    user_id        INTEGER NOT NULL,
    locale         TEXT,
    owner          TEXT NOT NULL,
    answering      INTEGER NOT NULL DEFAULT 1,
    context        TEXT NOT NULL DEFAULT '{}',  -- what the feature needs to finish the reply
    created_at     REAL NOT NULL,
    expires_at     REAL NOT NULL
);
CREATE INDEX interactions_by_owner ON interactions (answering, owner);
CREATE INDEX interactions_by_expiry ON interactions (expires_at);
