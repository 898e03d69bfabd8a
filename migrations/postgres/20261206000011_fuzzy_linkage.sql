-- Fuzzy linkage (issue 16): each live subject's similarity encoding, sealed under a
-- key derived from the pseudonym key (crypto/similarity.rs); its blocking buckets
-- (truncated keyed tags, the only deterministic values: they find the candidates);
-- the review queue of pairs the matcher could not decide; and merges, which keep
-- both subjects and every record: the merged subject points at the one it joined.

alter table episode drop constraint episode_link_rule_check;
alter table episode add constraint episode_link_rule_check
    check (link_rule in ('personal_number', 'attributes', 'similarity', 'new'));
alter table social_contact drop constraint social_contact_link_rule_check;
alter table social_contact add constraint social_contact_link_rule_check
    check (link_rule in ('personal_number', 'attributes', 'similarity', 'new'));

alter table subject add column merged_into bigint references subject (id)
    check (merged_into is null or merged_into <> id);
create index subject_merged_into on subject (merged_into) where merged_into is not null;

create table subject_encoding (
    subject_id bigint primary key references subject (id),
    sealed bytea not null check (octet_length(sealed) between 40 and 2000)
);

create table subject_bucket (
    bucket bigint not null check (bucket >= 0),
    subject_id bigint not null references subject (id),
    primary key (bucket, subject_id)
);
create index subject_bucket_subject on subject_bucket (subject_id);

create table link_review (
    id bigserial primary key,
    review_id uuid not null unique,
    -- The subject the matcher created, and the existing one it may be.
    subject_id bigint not null references subject (id),
    candidate_id bigint not null references subject (id),
    probability double precision not null check (probability between 0 and 1),
    -- Per-field similarity (no values): Dice of the names, agreement levels.
    given double precision check (given between 0 and 1),
    family double precision check (family between 0 and 1),
    names_swapped boolean not null,
    birth text not null,
    sex_agrees boolean,
    personal_number text not null,
    status text not null check (status in ('open', 'linked', 'distinct', 'withdrawn')),
    created_at timestamptz not null,
    decided_by text,
    decided_at timestamptz,
    reason text check (length(reason) between 3 and 500),
    unique (subject_id, candidate_id),
    check ((status = 'open') = (decided_at is null))
);
create index link_review_open on link_review (status, id);

-- The registrar: the registry's data steward, who decides the review queue.
alter table app_user drop constraint app_user_role_check;
alter table app_user add constraint app_user_role_check
    check (role in ('clinician', 'social_worker', 'police', 'forensic', 'analyst', 'auditor',
                    'admin', 'registrar'));
