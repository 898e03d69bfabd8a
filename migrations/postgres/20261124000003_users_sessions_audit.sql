-- Users, sessions, login throttling and the hash-chained audit log.

create table app_user (
    id bigserial primary key,
    -- Public random id used in the API and the audit log.
    user_id text not null unique check (length(user_id) = 36),
    username text not null unique check (length(username) between 3 and 64),
    role text not null check (role in ('clinician', 'social_worker', 'police', 'forensic',
                                       'analyst', 'auditor', 'admin')),
    facility text references facility (code),
    municipality text references municipality (slug),
    password_hash text not null check (password_hash like '$argon2id$%'),
    -- A generated one-time password must be changed before anything else is allowed.
    must_change_password boolean not null default false,
    -- TOTP secret sealed under the master key; enabled once confirmed with a code.
    totp_sealed bytea,
    totp_master_version bigint,
    totp_enabled boolean not null default false,
    -- Last accepted TOTP time step: each code is usable once.
    totp_last_step bigint not null default 0,
    created_at text not null,
    disabled_at text,
    -- Scope follows the role: clinicians have a facility, social workers a municipality.
    check (
        (role = 'clinician' and facility is not null and municipality is null)
        or (role = 'social_worker' and municipality is not null and facility is null)
        or (role not in ('clinician', 'social_worker') and facility is null and municipality is null)
    ),
    check (not totp_enabled or totp_sealed is not null)
);

create table session (
    -- SHA-256 of the bearer token; the token itself is never stored.
    token_hash bytea primary key not null check (octet_length(token_hash) = 32),
    user_id bigint not null references app_user (id),
    created_at bigint not null,
    last_seen_at bigint not null,
    expires_at bigint not null,
    revoked_at bigint,
    check (expires_at > created_at)
);

create index session_by_user on session (user_id);

-- Failed logins per account and per client address (ASVS 6.1.1 / 2.4.1).
create table login_throttle (
    key text primary key not null check (length(key) between 3 and 200),
    failures bigint not null check (failures >= 0),
    window_started_at bigint not null,
    locked_until bigint
);

-- Append-only audit log. Each event's hash covers the previous event's hash and its
-- own canonical encoding, so a changed, deleted or reordered row breaks the chain.
create table audit_event (
    seq bigint primary key check (seq >= 1),
    occurred_at text not null,
    actor text not null,
    role text not null,
    action text not null,
    object text,
    outcome text not null check (outcome in ('allowed', 'denied', 'success', 'failure')),
    rule text,
    purpose text,
    detail text,
    prev_hash bytea not null check (octet_length(prev_hash) = 32),
    hash bytea not null check (octet_length(hash) = 32)
);

create index audit_event_actor on audit_event (actor, seq);
create index audit_event_object on audit_event (object, seq);

-- The chain head: one row, locked by every append so that several service instances
-- writing to one database still produce a single chain.
create table audit_head (
    id bigint primary key check (id = 1),
    seq bigint not null check (seq >= 0),
    hash bytea not null check (octet_length(hash) = 32)
);

insert into audit_head (id, seq, hash) values (1, 0, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea);

-- Signed checkpoints of the head, also printed for export off-host.
create table audit_checkpoint (
    seq bigint primary key check (seq >= 0),
    hash bytea not null check (octet_length(hash) = 32),
    signed_at text not null,
    public_key bytea not null,
    signature bytea not null
);
