-- Native types on PostgreSQL: public identifiers as uuid, moments as timestamptz,
-- the day a subject was created as date (SQLite keeps all three as text, its own
-- representation). The audit log's times stay text: they are hashed into the chain
-- and signed, as the exact text that was written.

alter table seed_file
    alter column loaded_at type timestamptz using loaded_at::timestamptz;

alter table subject
    drop constraint subject_registry_id_check,
    alter column registry_id type uuid using registry_id::uuid,
    alter column created_at type date using created_at::date,
    alter column shredded_at type timestamptz using shredded_at::timestamptz;

alter table key_check
    alter column registered_at type timestamptz using registered_at::timestamptz,
    alter column retired_at type timestamptz using retired_at::timestamptz;

alter table app_user
    drop constraint app_user_user_id_check,
    alter column user_id type uuid using user_id::uuid,
    alter column created_at type timestamptz using created_at::timestamptz,
    alter column disabled_at type timestamptz using disabled_at::timestamptz;

alter table episode
    drop constraint episode_episode_id_check,
    alter column episode_id type uuid using episode_id::uuid,
    alter column created_at type timestamptz using created_at::timestamptz,
    alter column updated_at type timestamptz using updated_at::timestamptz;

alter table episode_history
    drop constraint episode_history_history_id_check,
    alter column history_id type uuid using history_id::uuid,
    alter column changed_at type timestamptz using changed_at::timestamptz;

alter table social_contact
    drop constraint social_contact_contact_id_check,
    alter column contact_id type uuid using contact_id::uuid,
    alter column created_at type timestamptz using created_at::timestamptz;

alter table death
    drop constraint death_death_id_check,
    alter column death_id type uuid using death_id::uuid,
    alter column overdose_id type uuid using overdose_id::uuid,
    alter column created_at type timestamptz using created_at::timestamptz,
    alter column updated_at type timestamptz using updated_at::timestamptz;

alter table overdose
    drop constraint overdose_overdose_id_check,
    alter column overdose_id type uuid using overdose_id::uuid,
    alter column death_id type uuid using death_id::uuid,
    alter column created_at type timestamptz using created_at::timestamptz;

alter table export_release
    drop constraint export_release_release_id_check,
    alter column release_id type uuid using release_id::uuid,
    alter column created_at type timestamptz using created_at::timestamptz;

alter table stat_snapshot
    drop constraint stat_snapshot_snapshot_id_check,
    alter column snapshot_id type uuid using snapshot_id::uuid,
    alter column created_at type timestamptz using created_at::timestamptz;

alter table release_ledger
    drop constraint release_ledger_release_id_check,
    alter column release_id type uuid using release_id::uuid,
    alter column created_at type timestamptz using created_at::timestamptz;

alter table readiness
    alter column checked_at type timestamptz using checked_at::timestamptz;

alter table substance_signal
    alter column first_seen type timestamptz using first_seen::timestamptz;
