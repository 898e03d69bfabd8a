-- Drug-related deaths (police notifications merged with forensic records) and
-- non-fatal overdoses. Each record has its own data key wrapped by the master key;
-- identity, exact dates, circumstances and concentrations are sealed under it.
-- The link to a known person (subject) is kept for aggregates only.

create table death (
    id bigserial primary key,
    death_id text not null unique check (length(death_id) = 36),
    subject_id bigint references subject (id),
    reporter text,
    has_notification boolean not null,
    has_forensic boolean not null,
    forensic_complete boolean not null,
    death_year bigint not null check (death_year between 1990 and 2200),
    death_quarter bigint not null check (death_quarter between 1 and 4),
    municipality text not null references municipality (slug),
    place_type text not null check (place_type in ('home', 'other_private', 'public_place',
        'institution', 'prison', 'hospital', 'other', '99')),
    sex text not null check (sex in ('1', '2', '99')),
    age_band text not null,
    manner text check (manner in ('accident', 'suicide', 'homicide', 'undetermined', 'pending')),
    autopsy_done boolean,
    toxicology_done boolean,
    underlying_cause text references icd10_code (code),
    multiple_causes text not null,
    suspected_substances text not null,
    substance_codes text not null,
    selection_b boolean not null,
    selection_b_rule text not null,
    selection_d boolean not null,
    selection_d_rule text not null,
    overdose_id text,
    data_key_wrapped bytea not null,
    master_key_version bigint not null check (master_key_version >= 1),
    police_sealed bytea,
    forensic_sealed bytea,
    created_at text not null,
    updated_at text not null,
    check (has_notification or has_forensic),
    check (has_notification = (police_sealed is not null)),
    check (has_forensic = (forensic_sealed is not null))
);

create index death_year on death (death_year);
create index death_reporter on death (reporter);
create index death_subject on death (subject_id);

create table overdose (
    id bigserial primary key,
    overdose_id text not null unique check (length(overdose_id) = 36),
    subject_id bigint references subject (id),
    source text not null check (source in ('clinical', 'police')),
    facility text references facility (code),
    reporter text not null,
    event_year bigint not null check (event_year between 1990 and 2200),
    event_quarter bigint not null check (event_quarter between 1 and 4),
    municipality text not null references municipality (slug),
    sex text not null check (sex in ('1', '2', '99')),
    age_band text not null,
    substance_codes text not null,
    outcome text not null,
    death_id text,
    data_key_wrapped bytea not null,
    master_key_version bigint not null check (master_key_version >= 1),
    sealed bytea not null,
    created_at text not null,
    check ((source = 'clinical') = (facility is not null))
);

create index overdose_facility on overdose (facility, id);
create index overdose_reporter on overdose (reporter, id);

-- Substances reported in deaths or overdoses that are not in the TDI code list:
-- the early-warning contact point's list (strategy item 3.1.7). Names only.
create table substance_signal (
    name text primary key not null check (length(name) between 2 and 100),
    first_seen text not null,
    reports bigint not null check (reports >= 1)
);
