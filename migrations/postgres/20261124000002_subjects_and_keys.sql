-- Subjects: the people the registry knows, held only as keyed pseudonyms, coarse
-- statistical attributes and sealed identity. No identifier is stored in clear.

create table subject (
    id bigserial primary key,
    -- Public random id shown to users; never derived from identity.
    registry_id text not null unique check (length(registry_id) = 36),
    -- HMAC pseudonyms (32 bytes) of the personal number and of the full attributes.
    pn_pseudonym bytea unique check (pn_pseudonym is null or octet_length(pn_pseudonym) = 32),
    attr_pseudonym bytea check (attr_pseudonym is null or octet_length(attr_pseudonym) = 32),
    pseudonym_version bigint not null check (pseudonym_version >= 1),
    -- Coarse statistical attributes, safe in clear.
    sex text not null check (sex in ('1', '2', '99')),
    birth_year bigint not null check (birth_year between 1900 and 2200),
    birth_year_only boolean not null,
    -- Per-subject data key wrapped by the master key; sealed identity under the data key.
    data_key_wrapped bytea,
    master_key_version bigint check (master_key_version >= 1),
    identity_sealed bytea,
    created_at text not null,
    shredded_at text,
    -- Live subjects hold key, identity and pseudonym; shredded ones hold none of them.
    check (
        (shredded_at is null and data_key_wrapped is not null and master_key_version is not null
            and identity_sealed is not null and attr_pseudonym is not null)
        or (shredded_at is not null and data_key_wrapped is null and master_key_version is null
            and identity_sealed is null and attr_pseudonym is null and pn_pseudonym is null)
    )
);

-- Lookups are by pseudonym and key version together; an index on the version
-- alone would tempt the planner into a scan (every row shares one version).
create index subject_attr_pseudonym on subject (attr_pseudonym, pseudonym_version);
create index subject_master_key_version on subject (master_key_version);

-- Which rule linked each incoming record to its subject (data-quality statistics).
create table subject_link (
    id bigserial primary key,
    subject_id bigint not null references subject (id),
    rule text not null check (rule in ('personal_number', 'attributes', 'new')),
    linked_at text not null
);

create index subject_link_subject on subject_link (subject_id);

-- Key-check values (an HMAC of a constant under each key version): start-up refuses a
-- key file that does not belong to this database. Reveals nothing about the keys.
create table key_check (
    kind text not null check (kind in ('master', 'pseudonym')),
    version bigint not null check (version >= 1),
    check_value text not null check (length(check_value) = 32),
    registered_at text not null,
    retired_at text,
    primary key (kind, version)
);
