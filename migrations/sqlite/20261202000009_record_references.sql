-- Each agency's records name their person by a keyed reference of the agency's own
-- domain (treatment, social work, mortality) instead of the subject's row id, so a
-- dump alone joins nothing across agencies (identity/reference.rs).
--
-- SQL cannot compute the references: the old links wait in reference_upgrade, which
-- the service empties with the key file at its next start (store::refs).

create table reference_upgrade (
    record_table text not null
        check (record_table in ('episode', 'social_contact', 'death', 'overdose')),
    row_id integer not null,
    subject_id integer not null references subject (id),
    primary key (record_table, row_id)
);

insert into reference_upgrade select 'episode', id, subject_id from episode;
insert into reference_upgrade select 'social_contact', id, subject_id from social_contact;
insert into reference_upgrade select 'death', id, subject_id from death where subject_id is not null;
insert into reference_upgrade select 'overdose', id, subject_id from overdose
    where subject_id is not null;

-- SQLite cannot drop a column that has a foreign key: the four tables are rebuilt
-- (new table, copy, drop, rename). episode_history refers to episode, so it is set
-- aside first and rebuilt after: dropping a parent whose children exist would fail
-- (migrations run in a transaction, where foreign keys cannot be switched off).
create temporary table episode_history_aside as select * from episode_history;
drop table episode_history;

create table episode_new (
    id integer primary key,
    episode_id text not null unique check (length(episode_id) = 36),
    -- The person, as a keyed reference of this agency's domain (identity/reference.rs);
    -- null only until the service converts a row listed in reference_upgrade.
    subject_ref blob check (subject_ref is null or length(subject_ref) = 16),
    facility text not null references facility (code),
    centre_type text not null check (centre_type in ('1', '2', '3', '4', '5', '6', '99')),
    link_rule text not null check (link_rule in ('personal_number', 'attributes', 'new')),
    status text not null check (status in ('open', 'closed')),
    start_year integer not null check (start_year between 1990 and 2200),
    start_quarter integer not null check (start_quarter between 1 and 4),
    sex text not null check (sex in ('1', '2', '99')),
    birth_year integer not null check (birth_year between 1900 and 2200),
    age_at_start integer not null check (age_at_start between 0 and 130),
    age_band text not null,
    municipality text not null references municipality (slug),
    treatment_status text not null,
    referral_source text not null,
    living_with text not null,
    living_with_children text not null,
    living_where text not null,
    labour_status text not null,
    education text not null,
    primary_drug text not null check (primary_drug <> '8'),
    route text not null,
    frequency text not null,
    age_first_use integer check (age_first_use between 0 and 130),
    -- Comma-separated substance codes, at most four.
    secondary_drugs text not null,
    polydrug text not null,
    ost_status text not null,
    ost_first_year integer check (ost_first_year between 1900 and 2200),
    sealed blob not null,
    end_year integer check (end_year between 1990 and 2200),
    end_quarter integer check (end_quarter between 1 and 4),
    end_reason text check (end_reason in ('completed', 'referred', 'dropped_out', 'died', 'other')),
    end_sealed blob,
    created_by text not null,
    created_at text not null,
    updated_at text not null,
    idempotency_key text check (length(idempotency_key) between 8 and 100),
    check ((status = 'open') = (end_reason is null)),
    check ((status = 'open') = (end_sealed is null))
);

insert into episode_new (id, episode_id, facility, centre_type, link_rule, status, start_year, start_quarter, sex, birth_year, age_at_start, age_band, municipality, treatment_status, referral_source, living_with, living_with_children, living_where, labour_status, education, primary_drug, route, frequency, age_first_use, secondary_drugs, polydrug, ost_status, ost_first_year, sealed, end_year, end_quarter, end_reason, end_sealed, created_by, created_at, updated_at, idempotency_key)
    select id, episode_id, facility, centre_type, link_rule, status, start_year, start_quarter, sex, birth_year, age_at_start, age_band, municipality, treatment_status, referral_source, living_with, living_with_children, living_where, labour_status, education, primary_drug, route, frequency, age_first_use, secondary_drugs, polydrug, ost_status, ost_first_year, sealed, end_year, end_quarter, end_reason, end_sealed, created_by, created_at, updated_at, idempotency_key from episode;
drop table episode;
alter table episode_new rename to episode;

create index episode_facility on episode (facility, id);
create index episode_ref on episode (subject_ref);
create index episode_year on episode (start_year, subject_ref);
create unique index episode_idempotency on episode (created_by, idempotency_key);

create table episode_history (
    id integer primary key,
    history_id text not null unique check (length(history_id) = 36),
    episode_id integer not null references episode (id),
    changed_by text not null,
    changed_at text not null,
    change text not null check (change in ('correct', 'close')),
    fields text not null,
    previous_sealed blob not null
);

insert into episode_history select * from episode_history_aside;
drop table episode_history_aside;
create index episode_history_episode on episode_history (episode_id);

create table social_contact_new (
    id integer primary key,
    contact_id text not null unique check (length(contact_id) = 36),
    -- The person, as a keyed reference of this agency's domain (identity/reference.rs);
    -- null only until the service converts a row listed in reference_upgrade.
    subject_ref blob check (subject_ref is null or length(subject_ref) = 16),
    municipality text not null references municipality (slug),
    link_rule text not null check (link_rule in ('personal_number', 'attributes', 'new')),
    contact_year integer not null check (contact_year between 1990 and 2200),
    contact_quarter integer not null check (contact_quarter between 1 and 4),
    service_type text not null check (service_type in ('counselling', 'financial_assistance',
        'family_support', 'housing', 'employment', 'legal_aid', 'referral', 'other')),
    referral_to_treatment integer not null check (referral_to_treatment in (0, 1)),
    housing_support integer not null check (housing_support in (0, 1)),
    employment_support integer not null check (employment_support in (0, 1)),
    sealed blob not null,
    created_by text not null,
    created_at text not null
);

insert into social_contact_new (id, contact_id, municipality, link_rule, contact_year, contact_quarter, service_type, referral_to_treatment, housing_support, employment_support, sealed, created_by, created_at)
    select id, contact_id, municipality, link_rule, contact_year, contact_quarter, service_type, referral_to_treatment, housing_support, employment_support, sealed, created_by, created_at from social_contact;
drop table social_contact;
alter table social_contact_new rename to social_contact;

create index social_contact_municipality on social_contact (municipality, id);
create index social_contact_ref on social_contact (subject_ref);

create table death_new (
    id integer primary key,
    death_id text not null unique check (length(death_id) = 36),
    -- The person, as a keyed reference of this agency's domain (identity/reference.rs);
    -- null only until the service converts a row listed in reference_upgrade.
    subject_ref blob check (subject_ref is null or length(subject_ref) = 16),
    reporter text,
    has_notification integer not null check (has_notification in (0, 1)),
    has_forensic integer not null check (has_forensic in (0, 1)),
    forensic_complete integer not null check (forensic_complete in (0, 1)),
    death_year integer not null check (death_year between 1990 and 2200),
    death_quarter integer not null check (death_quarter between 1 and 4),
    municipality text not null references municipality (slug),
    place_type text not null check (place_type in ('home', 'other_private', 'public_place',
        'institution', 'prison', 'hospital', 'other', '99')),
    sex text not null check (sex in ('1', '2', '99')),
    age_band text not null,
    manner text check (manner in ('accident', 'suicide', 'homicide', 'undetermined', 'pending')),
    autopsy_done integer check (autopsy_done in (0, 1)),
    toxicology_done integer check (toxicology_done in (0, 1)),
    underlying_cause text references icd10_code (code),
    multiple_causes text not null,
    suspected_substances text not null,
    substance_codes text not null,
    selection_b integer not null check (selection_b in (0, 1)),
    selection_b_rule text not null,
    selection_d integer not null check (selection_d in (0, 1)),
    selection_d_rule text not null,
    overdose_id text,
    data_key_wrapped blob not null,
    master_key_version integer not null check (master_key_version >= 1),
    police_sealed blob,
    forensic_sealed blob,
    created_at text not null,
    updated_at text not null,
    check (has_notification = 1 or has_forensic = 1),
    check ((has_notification = 1) = (police_sealed is not null)),
    check ((has_forensic = 1) = (forensic_sealed is not null))
);

insert into death_new (id, death_id, reporter, has_notification, has_forensic, forensic_complete, death_year, death_quarter, municipality, place_type, sex, age_band, manner, autopsy_done, toxicology_done, underlying_cause, multiple_causes, suspected_substances, substance_codes, selection_b, selection_b_rule, selection_d, selection_d_rule, overdose_id, data_key_wrapped, master_key_version, police_sealed, forensic_sealed, created_at, updated_at)
    select id, death_id, reporter, has_notification, has_forensic, forensic_complete, death_year, death_quarter, municipality, place_type, sex, age_band, manner, autopsy_done, toxicology_done, underlying_cause, multiple_causes, suspected_substances, substance_codes, selection_b, selection_b_rule, selection_d, selection_d_rule, overdose_id, data_key_wrapped, master_key_version, police_sealed, forensic_sealed, created_at, updated_at from death;
drop table death;
alter table death_new rename to death;

create index death_year on death (death_year);
create index death_reporter on death (reporter);
create index death_ref on death (subject_ref);

create table overdose_new (
    id integer primary key,
    overdose_id text not null unique check (length(overdose_id) = 36),
    -- The person, as a keyed reference of this agency's domain (identity/reference.rs);
    -- null only until the service converts a row listed in reference_upgrade.
    subject_ref blob check (subject_ref is null or length(subject_ref) = 16),
    source text not null check (source in ('clinical', 'police')),
    facility text references facility (code),
    reporter text not null,
    event_year integer not null check (event_year between 1990 and 2200),
    event_quarter integer not null check (event_quarter between 1 and 4),
    municipality text not null references municipality (slug),
    sex text not null check (sex in ('1', '2', '99')),
    age_band text not null,
    substance_codes text not null,
    outcome text not null,
    death_id text,
    data_key_wrapped blob not null,
    master_key_version integer not null check (master_key_version >= 1),
    sealed blob not null,
    created_at text not null,
    check ((source = 'clinical') = (facility is not null))
);

insert into overdose_new (id, overdose_id, source, facility, reporter, event_year, event_quarter, municipality, sex, age_band, substance_codes, outcome, death_id, data_key_wrapped, master_key_version, sealed, created_at)
    select id, overdose_id, source, facility, reporter, event_year, event_quarter, municipality, sex, age_band, substance_codes, outcome, death_id, data_key_wrapped, master_key_version, sealed, created_at from overdose;
drop table overdose;
alter table overdose_new rename to overdose;

create index overdose_facility on overdose (facility, id);
create index overdose_reporter on overdose (reporter, id);
create index overdose_ref on overdose (subject_ref);


-- Registrations used to be logged per subject with their time, which a dump could
-- line up with the records' own times across agencies; the access report now counts
-- the records through the references instead.
drop table subject_link;


-- A subject's creation time, exact, matched the creating record's own; the day is
-- enough for anyone.
update subject set created_at = substr(created_at, 1, 10);
