-- One row the service rewrites every second while database writes fail, to find out
-- when they work again (readiness recovers without a restart).
CREATE TABLE storage_probe (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    probes BIGINT NOT NULL
);
