-- Frozen years: immutable statistical snapshots, the only source of every output.
-- A row holds category codes and a record key; never a subject id, pseudonym,
-- registry id or sealed value. Rows and headers are never updated or deleted.

create table stat_snapshot (
    id integer primary key,
    snapshot_id text not null unique check (length(snapshot_id) = 36),
    year integer not null,
    version integer not null check (version >= 1),
    -- Field names per population (JSON), so old snapshots stay readable.
    layout text not null,
    -- Rows per population (JSON).
    row_counts text not null,
    -- Person rows that differ from the previous version (null for version 1).
    changed_rows integer,
    created_by text not null,
    created_at text not null,
    unique (year, version)
);

-- The rows of a snapshot, stored in chunks of up to 1000 persons: each line of
-- `data` is one person's row, `rk|code|code|…` (record key, then the codes in the
-- order the layout names). Chunks keep a national year to a few hundred writes.
create table stat_chunk (
    snapshot integer not null references stat_snapshot (id),
    population text not null check (population in ('entrants', 'in_treatment', 'deaths', 'overdoses')),
    chunk integer not null check (chunk >= 0),
    rows integer not null check (rows between 1 and 1000),
    data text not null,
    primary key (snapshot, population, chunk)
);

create trigger stat_snapshot_no_update before update on stat_snapshot
begin select raise(abort, 'statistical snapshots are immutable'); end;
create trigger stat_snapshot_no_delete before delete on stat_snapshot
begin select raise(abort, 'statistical snapshots are immutable'); end;
create trigger stat_chunk_no_update before update on stat_chunk
begin select raise(abort, 'statistical snapshots are immutable'); end;
create trigger stat_chunk_no_delete before delete on stat_chunk
begin select raise(abort, 'statistical snapshots are immutable'); end;

-- The release ledger of the snapshot-based outputs. (export_release keeps the
-- releases of the first, suppression-based engine as history.)
create table release_ledger (
    id integer primary key,
    release_id text not null unique check (length(release_id) = 36),
    kind text not null check (kind in ('statutory', 'flexible')),
    year_from integer not null,
    year_to integer not null,
    -- The snapshots read, as year:version:snapshot_id joined by commas.
    snapshots text not null,
    request text not null,
    purpose text not null,
    requester text not null,
    output_hash text not null check (length(output_hash) = 64),
    created_at text not null
);
create index release_ledger_year on release_ledger (kind, year_from);
