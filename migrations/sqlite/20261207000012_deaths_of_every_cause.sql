-- Deaths of every cause (issue 17): a death that turns out not to be drug-related is
-- completed with its WHO ICD-10 code (the full classification is reference data,
-- seeds/icd10_who.csv, loaded into icd10_code) and the manner `natural`.
--
-- SQLite cannot change a check constraint: death is rebuilt (new table, copy, drop,
-- rename), as in 20261202000009. No table refers to death.
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
    manner text check (manner in ('natural', 'accident', 'suicide', 'homicide', 'undetermined', 'pending')),
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

insert into death_new (id, death_id, subject_ref, reporter, has_notification, has_forensic, forensic_complete, death_year, death_quarter, municipality, place_type, sex, age_band, manner, autopsy_done, toxicology_done, underlying_cause, multiple_causes, suspected_substances, substance_codes, selection_b, selection_b_rule, selection_d, selection_d_rule, overdose_id, data_key_wrapped, master_key_version, police_sealed, forensic_sealed, created_at, updated_at)
    select id, death_id, subject_ref, reporter, has_notification, has_forensic, forensic_complete, death_year, death_quarter, municipality, place_type, sex, age_band, manner, autopsy_done, toxicology_done, underlying_cause, multiple_causes, suspected_substances, substance_codes, selection_b, selection_b_rule, selection_d, selection_d_rule, overdose_id, data_key_wrapped, master_key_version, police_sealed, forensic_sealed, created_at, updated_at from death;
drop table death;
alter table death_new rename to death;

create index death_year on death (death_year);
create index death_reporter on death (reporter);
create index death_ref on death (subject_ref);
