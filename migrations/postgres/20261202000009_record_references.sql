-- Each agency's records name their person by a keyed reference of the agency's own
-- domain (treatment, social work, mortality) instead of the subject's row id, so a
-- dump alone joins nothing across agencies (identity/reference.rs).
--
-- SQL cannot compute the references: the old links wait in reference_upgrade, which
-- the service empties with the key file at its next start (store::refs).

create table reference_upgrade (
    record_table text not null
        check (record_table in ('episode', 'social_contact', 'death', 'overdose')),
    row_id bigint not null,
    subject_id bigint not null references subject (id),
    primary key (record_table, row_id)
);

insert into reference_upgrade select 'episode', id, subject_id from episode;
insert into reference_upgrade select 'social_contact', id, subject_id from social_contact;
insert into reference_upgrade select 'death', id, subject_id from death where subject_id is not null;
insert into reference_upgrade select 'overdose', id, subject_id from overdose
    where subject_id is not null;

alter table episode add column subject_ref bytea
    check (subject_ref is null or length(subject_ref) = 16);
-- Drops the old indexes on subject_id with it.
alter table episode drop column subject_id;
create index episode_ref on episode (subject_ref);
create index episode_year on episode (start_year, subject_ref);

alter table social_contact add column subject_ref bytea
    check (subject_ref is null or length(subject_ref) = 16);
-- Drops the old indexes on subject_id with it.
alter table social_contact drop column subject_id;
create index social_contact_ref on social_contact (subject_ref);

alter table death add column subject_ref bytea
    check (subject_ref is null or length(subject_ref) = 16);
-- Drops the old indexes on subject_id with it.
alter table death drop column subject_id;
create index death_ref on death (subject_ref);

alter table overdose add column subject_ref bytea
    check (subject_ref is null or length(subject_ref) = 16);
-- Drops the old indexes on subject_id with it.
alter table overdose drop column subject_id;
create index overdose_ref on overdose (subject_ref);

-- Registrations used to be logged per subject with their time, which a dump could
-- line up with the records' own times across agencies; the access report now counts
-- the records through the references instead.
drop table subject_link;

-- A subject's creation time, exact, matched the creating record's own; the day is
-- enough for anyone.
update subject set created_at = substr(created_at, 1, 10);
