-- Fuzzy linkage (issue 16): each live subject's similarity encoding, sealed under a
-- key derived from the pseudonym key (crypto/similarity.rs); its blocking buckets
-- (truncated keyed tags, the only deterministic values: they find the candidates);
-- the review queue of pairs the matcher could not decide; and merges, which keep
-- both subjects and every record: the merged subject points at the one it joined.

-- SQLite cannot change a check constraint: episode and social_contact are rebuilt
-- (new table, copy, drop, rename), as in 20261202000009. episode_history refers to episode, so it is set
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
    link_rule text not null check (link_rule in ('personal_number', 'attributes', 'similarity', 'new')),
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

insert into episode_new (id, episode_id, subject_ref, facility, centre_type, link_rule, status, start_year, start_quarter, sex, birth_year, age_at_start, age_band, municipality, treatment_status, referral_source, living_with, living_with_children, living_where, labour_status, education, primary_drug, route, frequency, age_first_use, secondary_drugs, polydrug, ost_status, ost_first_year, sealed, end_year, end_quarter, end_reason, end_sealed, created_by, created_at, updated_at, idempotency_key)
    select id, episode_id, subject_ref, facility, centre_type, link_rule, status, start_year, start_quarter, sex, birth_year, age_at_start, age_band, municipality, treatment_status, referral_source, living_with, living_with_children, living_where, labour_status, education, primary_drug, route, frequency, age_first_use, secondary_drugs, polydrug, ost_status, ost_first_year, sealed, end_year, end_quarter, end_reason, end_sealed, created_by, created_at, updated_at, idempotency_key from episode;
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
    link_rule text not null check (link_rule in ('personal_number', 'attributes', 'similarity', 'new')),
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

insert into social_contact_new (id, contact_id, subject_ref, municipality, link_rule, contact_year, contact_quarter, service_type, referral_to_treatment, housing_support, employment_support, sealed, created_by, created_at)
    select id, contact_id, subject_ref, municipality, link_rule, contact_year, contact_quarter, service_type, referral_to_treatment, housing_support, employment_support, sealed, created_by, created_at from social_contact;
drop table social_contact;
alter table social_contact_new rename to social_contact;

create index social_contact_municipality on social_contact (municipality, id);
create index social_contact_ref on social_contact (subject_ref);


alter table subject add column merged_into integer references subject (id)
    check (merged_into is null or merged_into <> id);
create index subject_merged_into on subject (merged_into) where merged_into is not null;

create table subject_encoding (
    subject_id integer primary key references subject (id),
    sealed blob not null check (length(sealed) between 40 and 2000)
);

create table subject_bucket (
    bucket integer not null check (bucket >= 0),
    subject_id integer not null references subject (id),
    primary key (bucket, subject_id)
) without rowid;
create index subject_bucket_subject on subject_bucket (subject_id);

create table link_review (
    id integer primary key,
    review_id text not null unique check (length(review_id) = 36),
    -- The subject the matcher created, and the existing one it may be.
    subject_id integer not null references subject (id),
    candidate_id integer not null references subject (id),
    probability real not null check (probability between 0 and 1),
    -- Per-field similarity (no values): Dice of the names, agreement levels.
    given real check (given between 0 and 1),
    family real check (family between 0 and 1),
    names_swapped integer not null check (names_swapped in (0, 1)),
    birth text not null,
    sex_agrees integer check (sex_agrees in (0, 1)),
    personal_number text not null,
    status text not null check (status in ('open', 'linked', 'distinct', 'withdrawn')),
    created_at text not null,
    decided_by text,
    decided_at text,
    reason text check (length(reason) between 3 and 500),
    unique (subject_id, candidate_id),
    check ((status = 'open') = (decided_at is null))
);
create index link_review_open on link_review (status, id);

-- The registrar: the registry's data steward, who decides the review queue. SQLite
-- cannot change the role check: app_user is rebuilt, its sessions set aside first.
create temporary table session_aside as select * from session;
drop table session;

create table app_user_new (
    id integer primary key,
    -- Public random id used in the API and the audit log.
    user_id text not null unique check (length(user_id) = 36),
    username text not null unique check (length(username) between 3 and 64),
    role text not null check (role in ('clinician', 'social_worker', 'police', 'forensic',
                                       'analyst', 'auditor', 'admin', 'registrar')),
    facility text references facility (code),
    municipality text references municipality (slug),
    password_hash text not null check (password_hash like '$argon2id$%'),
    -- A generated one-time password must be changed before anything else is allowed.
    must_change_password integer not null default 0 check (must_change_password in (0, 1)),
    -- TOTP secret sealed under the master key; enabled once confirmed with a code.
    totp_sealed blob,
    totp_master_version integer,
    totp_enabled integer not null default 0 check (totp_enabled in (0, 1)),
    -- Last accepted TOTP time step: each code is usable once.
    totp_last_step integer not null default 0,
    created_at text not null,
    disabled_at text,
    -- Scope follows the role: clinicians have a facility, social workers a municipality.
    check (
        (role = 'clinician' and facility is not null and municipality is null)
        or (role = 'social_worker' and municipality is not null and facility is null)
        or (role not in ('clinician', 'social_worker') and facility is null and municipality is null)
    ),
    check (totp_enabled = 0 or totp_sealed is not null)
);

insert into app_user_new select * from app_user;
drop table app_user;
alter table app_user_new rename to app_user;

create table session (
    -- SHA-256 of the bearer token; the token itself is never stored.
    token_hash blob primary key not null check (length(token_hash) = 32),
    user_id integer not null references app_user (id),
    created_at integer not null,
    last_seen_at integer not null,
    expires_at integer not null,
    revoked_at integer,
    check (expires_at > created_at)
);

create index session_by_user on session (user_id);

insert into session select * from session_aside;
drop table session_aside;
