-- The release ledger: every aggregate export, with what was published, so later
-- exports are protected against the union of earlier ones.

create table export_release (
    id integer primary key,
    release_id text not null unique check (length(release_id) = 36),
    requester text not null,
    purpose text not null,
    spec text not null,
    profile text not null check (profile in ('k5', 'k10', 'k11', 'round5')),
    snapshot integer not null,
    output_hash text not null check (length(output_hash) = 64),
    -- Published cells per table key (aggregates only, already public).
    cells text not null,
    created_at text not null
);
