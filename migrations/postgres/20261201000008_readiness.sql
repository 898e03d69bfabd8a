-- One row that `/readyz` rewrites and commits, so readiness covers the write path
-- (the writer connection, the write lock and free disk space), not only a read.
create table readiness (
    id integer primary key check (id = 1),
    checked_at text not null
);
