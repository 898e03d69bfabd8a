//! Users, sessions and login throttling.

use crate::store::db::{self, Conn, Row};

use super::db::Arg;
use super::{Store, StoreError, now_rfc3339};

/// A user account as the service needs it for authentication and authorisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// Internal row id.
    pub id: i64,
    /// Public id.
    pub user_id: String,
    /// Login name.
    pub username: String,
    /// Role name.
    pub role: String,
    /// Facility code (clinicians).
    pub facility: Option<String>,
    /// Municipality slug (social workers).
    pub municipality: Option<String>,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Whether the password must be changed before anything else.
    pub must_change_password: bool,
    /// Sealed TOTP secret.
    pub totp_sealed: Option<Vec<u8>>,
    /// Whether TOTP is required at login.
    pub totp_enabled: bool,
    /// Last accepted TOTP step.
    pub totp_last_step: i64,
    /// When the account was created.
    pub created_at: String,
    /// When it was disabled.
    pub disabled_at: Option<String>,
}

const USER_COLUMNS: &str = "id, user_id, username, role, facility, municipality, password_hash, \
     must_change_password, totp_sealed, totp_enabled, totp_last_step, created_at, disabled_at";

fn user_from_row(row: &Row) -> Result<UserRecord, sqlx::Error> {
    Ok(UserRecord {
        id: row.try_get("id")?,
        user_id: row.id("user_id")?,
        username: row.try_get("username")?,
        role: row.try_get("role")?,
        facility: row.try_get("facility")?,
        municipality: row.try_get("municipality")?,
        password_hash: row.try_get("password_hash")?,
        must_change_password: row.try_get::<bool, _>("must_change_password")?,
        totp_sealed: row.try_get("totp_sealed")?,
        totp_enabled: row.try_get::<bool, _>("totp_enabled")?,
        totp_last_step: row.try_get("totp_last_step")?,
        created_at: row.stamp("created_at")?,
        disabled_at: row.opt_stamp("disabled_at")?,
    })
}

/// A new account.
#[derive(Debug, Clone)]
pub struct NewUser<'a> {
    /// Public id.
    pub user_id: &'a str,
    /// Login name.
    pub username: &'a str,
    /// Role name.
    pub role: &'a str,
    /// Facility code (clinicians).
    pub facility: Option<&'a str>,
    /// Municipality slug (social workers).
    pub municipality: Option<&'a str>,
    /// argon2id PHC string.
    pub password_hash: &'a str,
    /// One-time password that must be changed.
    pub must_change_password: bool,
}

/// A live session joined with its user.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    /// The user.
    pub user: UserRecord,
    /// The user's facility as the registry holds it now (clinicians).
    pub facility: Option<FacilityInfo>,
    /// Last request time (Unix seconds).
    pub last_seen_at: i64,
    /// Absolute expiry (Unix seconds).
    pub expires_at: i64,
}

/// A facility's TDI centre type and standing, read with the session so that a
/// request needs no second look-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FacilityInfo {
    /// TDI centre type code.
    pub centre_type: String,
    /// Whether the facility may register.
    pub active: bool,
    /// Whether it is an emergency department (records overdoses).
    pub emergency_capable: bool,
}

/// Inserts a user within the caller's transaction.
pub async fn insert_user(conn: &mut Conn, user: &NewUser<'_>) -> Result<(), StoreError> {
    db::query(
        "insert into app_user (user_id, username, role, facility, municipality, password_hash, \
         must_change_password, created_at) values ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(db::uuid(user.user_id))
    .bind(user.username)
    .bind(user.role)
    .bind(user.facility)
    .bind(user.municipality)
    .bind(user.password_hash)
    .bind(user.must_change_password)
    .bind(db::stamp(&now_rfc3339()))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Changes a user's role and scope within the caller's transaction.
pub async fn rescope_user(
    conn: &mut Conn,
    user_id: &str,
    role: &str,
    facility: Option<&str>,
    municipality: Option<&str>,
) -> Result<(), StoreError> {
    let done = db::query(
        "update app_user set role = $1, facility = $2, municipality = $3 where user_id = $4",
    )
    .bind(role)
    .bind(facility)
    .bind(municipality)
    .bind(db::uuid(user_id))
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Active (not disabled) administrators, within the caller's transaction.
pub async fn active_admins(conn: &mut Conn) -> Result<i64, StoreError> {
    Ok(db::query_scalar(
        "select count(*) from app_user where role = 'admin' and disabled_at is null",
    )
    .fetch_one(&mut *conn)
    .await?)
}

/// Disables a user and revokes all their sessions at once, within the caller's
/// transaction. Returns false when already disabled.
pub async fn disable_user(conn: &mut Conn, user_id: &str, now: i64) -> Result<bool, StoreError> {
    let id: Option<i64> = db::query_scalar("select id from app_user where user_id = $1")
        .bind(db::uuid(user_id))
        .fetch_optional(&mut *conn)
        .await?;
    let id = id.ok_or(StoreError::NotFound)?;
    let done =
        db::query("update app_user set disabled_at = $1 where id = $2 and disabled_at is null")
            .bind(db::stamp(&now_rfc3339()))
            .bind(id)
            .execute(&mut *conn)
            .await?;
    db::query("update session set revoked_at = $1 where user_id = $2 and revoked_at is null")
        .bind(now)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Sets a new password hash (clearing the must-change flag) within a transaction.
pub async fn set_password(conn: &mut Conn, id: i64, password_hash: &str) -> Result<(), StoreError> {
    db::query("update app_user set password_hash = $1, must_change_password = $2 where id = $3")
        .bind(password_hash)
        .bind(false)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Stores a sealed TOTP secret awaiting confirmation (not yet enabled).
pub async fn set_totp_secret(
    conn: &mut Conn,
    id: i64,
    sealed: &[u8],
    master_version: u32,
) -> Result<(), StoreError> {
    db::query(
        "update app_user set totp_sealed = $1, totp_master_version = $2, totp_enabled = $3 \
         where id = $4",
    )
    .bind(sealed)
    .bind(i64::from(master_version))
    .bind(false)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Records an accepted TOTP step (and enables TOTP); refuses a step not newer than the
/// last one, so a code is accepted at most once even under concurrent logins.
pub async fn accept_totp_step(conn: &mut Conn, id: i64, step: i64) -> Result<bool, StoreError> {
    let done = db::query(
        "update app_user set totp_last_step = $1, totp_enabled = $2 \
         where id = $3 and totp_last_step < $1",
    )
    .bind(step)
    .bind(true)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Creates a session within the caller's transaction.
pub async fn insert_session(
    conn: &mut Conn,
    token_hash: &[u8; 32],
    user: i64,
    now: i64,
    expires_at: i64,
) -> Result<(), StoreError> {
    db::query(
        "insert into session (token_hash, user_id, created_at, last_seen_at, expires_at) \
         values ($1, $2, $3, $3, $4)",
    )
    .bind(token_hash.to_vec())
    .bind(user)
    .bind(now)
    .bind(expires_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Revokes one session within the caller's transaction.
pub async fn revoke_session(
    conn: &mut Conn,
    token_hash: &[u8; 32],
    now: i64,
) -> Result<(), StoreError> {
    db::query("update session set revoked_at = $1 where token_hash = $2 and revoked_at is null")
        .bind(now)
        .bind(token_hash.to_vec())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

impl Store {
    /// A user by login name.
    pub async fn user_by_username(&self, username: &str) -> Result<Option<UserRecord>, StoreError> {
        let row = db::query(&format!(
            "select {USER_COLUMNS} from app_user where username = $1"
        ))
        .bind(username)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(user_from_row).transpose()?)
    }

    /// A user by public id.
    pub async fn user_by_id(&self, user_id: &str) -> Result<Option<UserRecord>, StoreError> {
        let row = db::query(&format!(
            "select {USER_COLUMNS} from app_user where user_id = $1"
        ))
        .bind(db::uuid(user_id))
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(user_from_row).transpose()?)
    }

    /// All users, by username.
    pub async fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
        let rows = db::query(&format!(
            "select {USER_COLUMNS} from app_user order by username"
        ))
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(user_from_row).collect::<Result<_, _>>()?)
    }

    /// Whether any admin account exists.
    pub async fn admin_exists(&self) -> Result<bool, StoreError> {
        let n: i64 = db::query_scalar("select count(*) from app_user where role = 'admin'")
            .fetch_one(self.pool())
            .await?;
        Ok(n > 0)
    }

    /// The live session for a token hash, with its (current) user; `None` when the
    /// token is unknown, revoked, expired, idle too long, or its user is disabled.
    pub async fn live_session(
        &self,
        token_hash: &[u8; 32],
        now: i64,
        idle_secs: i64,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let columns: String = USER_COLUMNS
            .split(", ")
            .map(|c| format!("u.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let row = db::query(&format!(
            "select {columns}, s.last_seen_at, s.expires_at, f.centre_type as f_centre_type, \
             f.active as f_active, f.emergency_capable as f_emergency from session s \
             join app_user u on u.id = s.user_id left join facility f on f.code = u.facility \
             where s.token_hash = $1 and s.revoked_at is null and s.expires_at > $2 \
             and s.last_seen_at > $3 and u.disabled_at is null"
        ))
        .bind(token_hash.to_vec())
        .bind(now)
        .bind(now - idle_secs)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            let centre_type: Option<String> = r.try_get("f_centre_type")?;
            let facility = match centre_type {
                Some(centre_type) => Some(FacilityInfo {
                    centre_type,
                    active: r.try_get::<bool, _>("f_active")?,
                    emergency_capable: r.try_get::<bool, _>("f_emergency")?,
                }),
                None => None,
            };
            Ok(SessionRecord {
                user: user_from_row(&r)?,
                facility,
                last_seen_at: r.try_get("last_seen_at")?,
                expires_at: r.try_get("expires_at")?,
            })
        })
        .transpose()
        .map_err(|e: sqlx::Error| StoreError::from(e))
    }

    /// Moves a session's idle clock forward.
    pub async fn touch_session(&self, token_hash: &[u8; 32], now: i64) -> Result<(), StoreError> {
        self.write_statement(
            "update session set last_seen_at = $1 where token_hash = $2".into(),
            vec![Arg::Int(Some(now)), Arg::Bytes(Some(token_hash.to_vec()))],
        )
        .await?;
        Ok(())
    }

    /// Seconds until a throttle key is unlocked (0 when not locked).
    pub async fn throttle_lock(&self, key: &str, now: i64) -> Result<i64, StoreError> {
        let locked: Option<Option<i64>> =
            db::query_scalar("select locked_until from login_throttle where key = $1")
                .bind(key)
                .fetch_optional(self.pool())
                .await?;
        Ok(locked.flatten().map_or(0, |until| (until - now).max(0)))
    }

    /// Counts a failed login for a key; locks it when `limit` failures fall within
    /// `window` seconds. Returns whether the key is now locked.
    pub async fn throttle_failure(
        &self,
        key: &str,
        now: i64,
        window: i64,
        limit: i64,
    ) -> Result<bool, StoreError> {
        let job = (key.to_owned(), now, window, limit);
        self.write_with(job, |conn, (key, now, window, limit)| {
            Box::pin(async move {
                let (now, window, limit) = (*now, *window, *limit);
                let row = db::query(
                    "select failures, window_started_at from login_throttle where key = $1",
                )
                .bind(key)
                .fetch_optional(&mut *conn)
                .await?;
                let (failures, started) = match row {
                    Some(r) => {
                        let failures: i64 = r.try_get("failures")?;
                        let started: i64 = r.try_get("window_started_at")?;
                        if now - started > window {
                            (1, now)
                        } else {
                            (failures + 1, started)
                        }
                    }
                    None => (1, now),
                };
                let locked_until = (failures >= limit).then_some(now + window);
                db::query(
                    "insert into login_throttle (key, failures, window_started_at, locked_until) \
                     values ($1, $2, $3, $4) on conflict (key) do update set \
                     failures = excluded.failures, window_started_at = excluded.window_started_at, \
                     locked_until = excluded.locked_until",
                )
                .bind(key)
                .bind(failures)
                .bind(started)
                .bind(locked_until)
                .execute(&mut *conn)
                .await?;
                Ok(super::writer::Staged::unaudited(locked_until.is_some()))
            })
        })
        .await
    }

    /// Clears the failure count of a key after a successful login.
    pub async fn throttle_reset(&self, key: &str) -> Result<(), StoreError> {
        self.write_statement(
            "delete from login_throttle where key = $1".into(),
            vec![Arg::Text(Some(key.into()))],
        )
        .await?;
        Ok(())
    }

    /// Users whose TOTP secret is sealed under a master version other than `active`.
    pub async fn totp_to_reseal(
        &self,
        active: u32,
        limit: i64,
    ) -> Result<Vec<(i64, String, Vec<u8>)>, StoreError> {
        let rows = db::query(
            "select id, user_id, totp_sealed from app_user where totp_sealed is not null \
             and totp_master_version <> $1 order by id limit $2",
        )
        .bind(i64::from(active))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("id")?,
                    r.id("user_id")?,
                    r.try_get("totp_sealed")?,
                ))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Replaces a re-sealed TOTP secret unless it changed meanwhile.
    pub async fn reseal_totp(
        &self,
        id: i64,
        old: &[u8],
        new: &[u8],
        version: u32,
    ) -> Result<bool, StoreError> {
        let done = self
            .write_statement(
                "update app_user set totp_sealed = $1, totp_master_version = $2 \
                 where id = $3 and totp_sealed = $4"
                    .into(),
                vec![
                    Arg::Bytes(Some(new.to_vec())),
                    Arg::Int(Some(i64::from(version))),
                    Arg::Int(Some(id)),
                    Arg::Bytes(Some(old.to_vec())),
                ],
            )
            .await?;
        Ok(done == 1)
    }
}
