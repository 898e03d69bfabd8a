-- Treatment episodes (TDI 3.0) and social-work contacts. Statistical columns are in
-- clear; exact dates, injecting/sharing, HIV/HCV testing and free text are sealed
-- under the subject's data key.

create table episode (
    id bigserial primary key,
    episode_id text not null unique check (length(episode_id) = 36),
    subject_id bigint not null references subject (id),
    facility text not null references facility (code),
    centre_type text not null check (centre_type in ('1', '2', '3', '4', '5', '6', '99')),
    link_rule text not null check (link_rule in ('personal_number', 'attributes', 'new')),
    status text not null check (status in ('open', 'closed')),
    start_year bigint not null check (start_year between 1990 and 2200),
    start_quarter bigint not null check (start_quarter between 1 and 4),
    sex text not null check (sex in ('1', '2', '99')),
    birth_year bigint not null check (birth_year between 1900 and 2200),
    age_at_start bigint not null check (age_at_start between 0 and 130),
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
    age_first_use bigint check (age_first_use between 0 and 130),
    -- Comma-separated substance codes, at most four.
    secondary_drugs text not null,
    polydrug text not null,
    ost_status text not null,
    ost_first_year bigint check (ost_first_year between 1900 and 2200),
    sealed bytea not null,
    end_year bigint check (end_year between 1990 and 2200),
    end_quarter bigint check (end_quarter between 1 and 4),
    end_reason text check (end_reason in ('completed', 'referred', 'dropped_out', 'died', 'other')),
    end_sealed bytea,
    created_by text not null,
    created_at text not null,
    updated_at text not null,
    idempotency_key text check (length(idempotency_key) between 8 and 100),
    check ((status = 'open') = (end_reason is null)),
    check ((status = 'open') = (end_sealed is null))
);

create index episode_facility on episode (facility, id);
create index episode_subject on episode (subject_id);
create index episode_year on episode (start_year, subject_id);
create unique index episode_idempotency on episode (created_by, idempotency_key);

-- Corrections keep history: who, when, which fields, and the previous values sealed.
create table episode_history (
    id bigserial primary key,
    history_id text not null unique check (length(history_id) = 36),
    episode_id bigint not null references episode (id),
    changed_by text not null,
    changed_at text not null,
    change text not null check (change in ('correct', 'close')),
    fields text not null,
    previous_sealed bytea not null
);

create index episode_history_episode on episode_history (episode_id);

create table social_contact (
    id bigserial primary key,
    contact_id text not null unique check (length(contact_id) = 36),
    subject_id bigint not null references subject (id),
    municipality text not null references municipality (slug),
    link_rule text not null check (link_rule in ('personal_number', 'attributes', 'new')),
    contact_year bigint not null check (contact_year between 1990 and 2200),
    contact_quarter bigint not null check (contact_quarter between 1 and 4),
    service_type text not null check (service_type in ('counselling', 'financial_assistance',
        'family_support', 'housing', 'employment', 'legal_aid', 'referral', 'other')),
    referral_to_treatment boolean not null,
    housing_support boolean not null,
    employment_support boolean not null,
    sealed bytea not null,
    created_by text not null,
    created_at text not null
);

create index social_contact_municipality on social_contact (municipality, id);
