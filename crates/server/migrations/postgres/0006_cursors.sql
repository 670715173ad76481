-- How far a consumer of the events table has read (issue 14): the e-mailer's place per tenant, so a notice is
-- mailed at least once (a crash between sending and saving the place sends it again) and never skipped.
CREATE TABLE cursors (
    name  TEXT PRIMARY KEY,
    seq   BIGINT NOT NULL
);
