//! Login, logout, password change and TOTP enrolment.
//!
//! An unknown user and a wrong password get the same answer after the same work (a
//! dummy argon2 verification); failures are throttled per account and per client
//! address, and both are audited without the submitted username or password.

use zeroize::Zeroizing;

use crate::audit::{AuditEvent, Outcome};
use crate::auth::{
    ACCOUNT_FAILURE_LIMIT, ADDRESS_FAILURE_LIMIT, SESSION_ABSOLUTE_SECS, THROTTLE_WINDOW_SECS,
    password, token, totp, unix_now,
};
use crate::crypto::{Aad, KeyringHandle};
use crate::field::FieldError;
use crate::store::users::{
    UserRecord, accept_totp_step, insert_session, revoke_session, set_password, set_totp_secret,
};
use crate::store::writer::Staged;
use crate::store::{Store, StoreError};

/// Why a login did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Unknown user, wrong password, disabled account or wrong TOTP code: one answer.
    #[error("username or password is wrong")]
    InvalidCredentials,
    /// The account has TOTP enabled and no code was given.
    #[error("a TOTP code is required")]
    TotpRequired,
    /// Too many failures for this account or address; seconds until retry.
    #[error("locked")]
    Locked(i64),
    /// Bad input.
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    /// Storage failure.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Hashing, sealing or RNG failure.
    #[error("internal failure: {0}")]
    Internal(&'static str),
}

/// A successful login.
#[derive(Debug)]
pub struct LoggedIn {
    /// The bearer token, shown once.
    pub token: Zeroizing<String>,
    /// Absolute expiry (Unix seconds).
    pub expires_at: i64,
    /// The user.
    pub user: UserRecord,
}

fn login_event(actor: &str, role: &str, outcome: Outcome, detail: &str) -> AuditEvent {
    AuditEvent {
        detail: Some(detail.to_owned()),
        purpose: Some("authentication".into()),
        ..AuditEvent::new(actor, role, "login", outcome)
    }
}

/// Usernames are 3 to 64 characters (the schema's limit).
const USERNAME_MAX_LENGTH: usize = 64;

/// Logs in with username, password and (when enabled) a TOTP code.
pub async fn login(
    store: &Store,
    keys: &impl super::KeySource,
    username: &str,
    password_text: Zeroizing<String>,
    totp_code: Option<&str>,
    client: &str,
) -> Result<LoggedIn, LoginError> {
    let keys = &super::handle(keys);
    let now = unix_now();
    // The account's throttle key is a hash: any length fits, and the table never
    // holds what people typed as a username (sometimes their password).
    let account_key = format!(
        "user:{}",
        hex::encode(ring::digest::digest(
            &ring::digest::SHA256,
            username.to_lowercase().as_bytes()
        ))
    );
    let address_key = format!("addr:{client}");
    let account_lock = store.throttle_lock(&account_key, now).await?;
    let address_lock = store.throttle_lock(&address_key, now).await?;
    // Anyone can lock a named account with five wrong passwords. The lock stays, but
    // its owner gets through from an address that is not locked itself by passing
    // both factors: the password and a current TOTP code, which the attacker who
    // caused the lock does not have.
    let past_lock = account_lock > 0 && address_lock == 0 && totp_code.is_some();
    if address_lock > 0 || (account_lock > 0 && !past_lock) {
        store
            .audit(&login_event("anonymous", "-", Outcome::Failure, "locked"))
            .await?;
        return Err(LoginError::Locked(account_lock.max(address_lock)));
    }
    // While the account is locked every failure answers "locked", as before.
    let refused = |err: LoginError| match err {
        LoginError::InvalidCredentials if past_lock => LoginError::Locked(account_lock),
        other => other,
    };

    // Bounded before any work (no argon2 run on megabytes), yet counted and audited
    // like every other failed login.
    let too_long: Vec<FieldError> = [
        (
            "username",
            username.is_empty() || username.chars().count() > USERNAME_MAX_LENGTH,
            "must be 1 to 64 characters long",
        ),
        (
            "password",
            password_text.chars().count() > password::MAX_LENGTH,
            "must be at most 128 characters long",
        ),
        (
            "totp",
            totp_code.is_some_and(|c| c.chars().count() > 10),
            "must be the 6 digits the authenticator app shows",
        ),
    ]
    .into_iter()
    .filter(|(_, bad, _)| *bad)
    .map(|(field, _, problem)| FieldError::new(field, problem))
    .collect();
    if !too_long.is_empty() {
        return match fail(
            store,
            &account_key,
            &address_key,
            now,
            "anonymous",
            "-",
            "malformed",
        )
        .await
        {
            LoginError::InvalidCredentials => Err(LoginError::Invalid(too_long)),
            other => Err(other),
        };
    }

    let user = store.user_by_username(username).await?;
    let usable = user.as_ref().filter(|u| u.disabled_at.is_none());
    let verified = password::verify(password_text, usable.map(|u| u.password_hash.clone())).await;
    let Some(user) = usable.filter(|_| verified).cloned() else {
        return Err(refused(
            fail(
                store,
                &account_key,
                &address_key,
                now,
                "anonymous",
                "-",
                "invalid_credentials",
            )
            .await,
        ));
    };
    if past_lock && !user.totp_enabled {
        // One factor is not enough to pass a lock.
        store
            .audit(&login_event(
                &user.user_id,
                &user.role,
                Outcome::Failure,
                "locked",
            ))
            .await?;
        return Err(LoginError::Locked(account_lock));
    }

    if user.totp_enabled {
        let Some(code) = totp_code else {
            store
                .audit(&login_event(
                    &user.user_id,
                    &user.role,
                    Outcome::Failure,
                    "totp_required",
                ))
                .await?;
            return Err(LoginError::TotpRequired);
        };
        let secret = open_totp_secret(keys, &user)?;
        let step = totp::verify(
            &secret,
            code,
            u64::try_from(now).unwrap_or(0),
            u64::try_from(user.totp_last_step).unwrap_or(0),
        );
        let accepted = match step {
            Some(step) => {
                let step = i64::try_from(step).unwrap_or(i64::MAX);
                store
                    .write_with((user.id, step), |conn, (id, step)| {
                        Box::pin(async move {
                            let accepted = accept_totp_step(conn, *id, *step).await?;
                            Ok::<_, StoreError>(Staged::unaudited(accepted))
                        })
                    })
                    .await?
            }
            None => false,
        };
        if !accepted {
            return Err(refused(
                fail(
                    store,
                    &account_key,
                    &address_key,
                    now,
                    &user.user_id,
                    &user.role,
                    "invalid_totp",
                )
                .await,
            ));
        }
    }

    store.throttle_reset(&account_key).await?;
    let (token, token_hash) = token::new_token().map_err(|_| LoginError::Internal("rng"))?;
    let expires_at = now + SESSION_ABSOLUTE_SECS;
    let event = login_event(
        &user.user_id,
        &user.role,
        Outcome::Success,
        "session_created",
    );
    let job = (token_hash, user.id, now, expires_at, event);
    store
        .write_with(job, |conn, (token_hash, id, now, expires_at, event)| {
            Box::pin(async move {
                insert_session(conn, token_hash, *id, *now, *expires_at).await?;
                Ok::<_, StoreError>(Staged {
                    value: (),
                    events: vec![event.clone()],
                })
            })
        })
        .await?;
    Ok(LoggedIn {
        token,
        expires_at,
        user,
    })
}

async fn fail(
    store: &Store,
    account_key: &str,
    address_key: &str,
    now: i64,
    actor: &str,
    role: &str,
    detail: &str,
) -> LoginError {
    let result = async {
        store
            .throttle_failure(
                account_key,
                now,
                THROTTLE_WINDOW_SECS,
                ACCOUNT_FAILURE_LIMIT,
            )
            .await?;
        store
            .throttle_failure(
                address_key,
                now,
                THROTTLE_WINDOW_SECS,
                ADDRESS_FAILURE_LIMIT,
            )
            .await?;
        store
            .audit(&login_event(actor, role, Outcome::Failure, detail))
            .await?;
        Ok::<(), StoreError>(())
    }
    .await;
    match result {
        Ok(()) => LoginError::InvalidCredentials,
        Err(e) => LoginError::Store(e),
    }
}

/// Ends a session.
pub async fn logout(
    store: &Store,
    token_hash: &[u8; 32],
    user_id: &str,
    role: &str,
) -> Result<(), StoreError> {
    let event = AuditEvent {
        purpose: Some("authentication".into()),
        ..AuditEvent::new(user_id, role, "logout", Outcome::Success)
    };
    store
        .write_with((*token_hash, event), |conn, (token_hash, event)| {
            Box::pin(async move {
                revoke_session(conn, token_hash, unix_now()).await?;
                Ok::<_, StoreError>(Staged {
                    value: (),
                    events: vec![event.clone()],
                })
            })
        })
        .await
}

/// Changes the caller's password after checking the current one.
pub async fn change_password(
    store: &Store,
    user: &UserRecord,
    current: Zeroizing<String>,
    new: Zeroizing<String>,
) -> Result<(), LoginError> {
    if let Err(e) = password::check_new(&new, &user.username, "new_password") {
        return Err(LoginError::Invalid(vec![e]));
    }
    if !password::verify(current, Some(user.password_hash.clone())).await {
        return Err(LoginError::Invalid(vec![FieldError::new(
            "current_password",
            "is not your current password",
        )]));
    }
    let hash = password::hash(new)
        .await
        .map_err(|_| LoginError::Internal("hashing"))?;
    let event = AuditEvent {
        purpose: Some("authentication".into()),
        ..AuditEvent::new(
            &user.user_id,
            &user.role,
            "change_password",
            Outcome::Success,
        )
    };
    store
        .write_with((user.id, hash, event), |conn, (id, hash, event)| {
            Box::pin(async move {
                set_password(conn, *id, hash).await?;
                Ok::<_, LoginError>(Staged {
                    value: (),
                    events: vec![event.clone()],
                })
            })
        })
        .await
}

fn totp_aad(user_id: &str) -> Aad<'_> {
    Aad {
        table: "app_user",
        column: "totp_secret",
        record_id: user_id,
    }
}

fn open_totp_secret(
    keys: &KeyringHandle,
    user: &UserRecord,
) -> Result<Zeroizing<Vec<u8>>, LoginError> {
    let sealed = user
        .totp_sealed
        .as_ref()
        .ok_or(LoginError::Internal("totp secret missing"))?;
    keys.current()
        .open_with_master(&totp_aad(&user.user_id), sealed)
        .map(Zeroizing::new)
        .map_err(|_| LoginError::Internal("totp secret cannot be opened"))
}

/// A TOTP enrolment waiting for its first code.
#[derive(Debug)]
pub struct Enrolment {
    /// Secret in base32 (shown once).
    pub secret_base32: String,
    /// `otpauth://` URI for a QR code.
    pub uri: String,
}

/// Starts TOTP enrolment: a new secret, sealed, not yet required at login.
pub async fn start_totp(
    store: &Store,
    keys: &impl super::KeySource,
    user: &UserRecord,
    proof: Option<Reauthentication>,
) -> Result<Enrolment, LoginError> {
    let keys = &super::handle(keys);
    let secret = totp::new_secret().map_err(|_| LoginError::Internal("rng"))?;
    let (version, sealed) = keys
        .current()
        .seal_with_master(&totp_aad(&user.user_id), &secret)
        .map_err(|_| LoginError::Internal("sealing"))?;
    // A new enrolment switches the factor in force off until it is confirmed: with a
    // factor on, only the holder of the password and the current code may do that,
    // not anyone who holds a session.
    let proven_step = if user.totp_enabled {
        Some(reauthenticate(store, keys, user, proof).await?)
    } else {
        None
    };
    let event = AuditEvent {
        purpose: Some("authentication".into()),
        ..AuditEvent::new(&user.user_id, &user.role, "start_totp", Outcome::Success)
    };
    let job = (user.id, proven_step, sealed, version, event);
    let started = store
        .write_with(job, |conn, (id, proven_step, sealed, version, event)| {
            Box::pin(async move {
                if let Some(step) = proven_step {
                    // The code was used meanwhile: nothing is changed.
                    if !accept_totp_step(conn, *id, *step).await? {
                        return Ok::<_, StoreError>(Staged::unaudited(false));
                    }
                }
                set_totp_secret(conn, *id, sealed, *version).await?;
                Ok(Staged {
                    value: true,
                    events: vec![event.clone()],
                })
            })
        })
        .await?;
    if !started {
        return Err(refused_change(store, user, "code").await);
    }
    Ok(Enrolment {
        secret_base32: totp::base32(&secret),
        uri: totp::provisioning_uri(&secret, &user.username),
    })
}

/// The current password and the current code, which changing a second factor that
/// is on requires.
#[derive(Debug)]
pub struct Reauthentication {
    /// The account's password.
    pub current_password: Zeroizing<String>,
    /// The code the authenticator app shows now.
    pub code: String,
}

/// Checks the password and the code; returns the code's time step (accepted, and so
/// used up, in the caller's transaction). A failure is audited.
async fn reauthenticate(
    store: &Store,
    keys: &KeyringHandle,
    user: &UserRecord,
    proof: Option<Reauthentication>,
) -> Result<i64, LoginError> {
    let Some(proof) = proof else {
        return Err(LoginError::Invalid(
            ["current_password", "code"]
                .into_iter()
                .map(|field| {
                    FieldError::new(field, "is required to change a second factor that is on")
                })
                .collect(),
        ));
    };
    if !password::verify(proof.current_password, Some(user.password_hash.clone())).await {
        return Err(refused_change(store, user, "current_password").await);
    }
    let secret = open_totp_secret(keys, user)?;
    let now = u64::try_from(unix_now()).unwrap_or(0);
    let last = u64::try_from(user.totp_last_step).unwrap_or(0);
    match totp::verify(&secret, &proof.code, now, last) {
        Some(step) => Ok(i64::try_from(step).unwrap_or(i64::MAX)),
        None => Err(refused_change(store, user, "code").await),
    }
}

/// Audits a refused change of the second factor and names the field that was wrong.
async fn refused_change(store: &Store, user: &UserRecord, field: &'static str) -> LoginError {
    let event = AuditEvent {
        purpose: Some("authentication".into()),
        ..AuditEvent::new(&user.user_id, &user.role, "start_totp", Outcome::Failure)
    };
    if let Err(e) = store.audit(&event).await {
        return e.into();
    }
    LoginError::Invalid(vec![FieldError::new(
        field,
        match field {
            "code" => "is not the current code of your authenticator app",
            _ => "is not your current password",
        },
    )])
}

/// Confirms enrolment with a code; from then on login requires a code.
pub async fn confirm_totp(
    store: &Store,
    keys: &impl super::KeySource,
    user: &UserRecord,
    code: &str,
) -> Result<(), LoginError> {
    let keys = &super::handle(keys);
    let secret = open_totp_secret(keys, user).map_err(|_| {
        LoginError::Invalid(vec![FieldError::new(
            "code",
            "start enrolment first (POST /api/v1/me/totp)",
        )])
    })?;
    let now = u64::try_from(unix_now()).unwrap_or(0);
    let step = totp::verify(
        &secret,
        code,
        now,
        u64::try_from(user.totp_last_step).unwrap_or(0),
    );
    let Some(step) = step else {
        return Err(wrong_code());
    };
    let event = AuditEvent {
        purpose: Some("authentication".into()),
        ..AuditEvent::new(&user.user_id, &user.role, "enable_totp", Outcome::Success)
    };
    let step = i64::try_from(step).unwrap_or(i64::MAX);
    store
        .write_with((user.id, step, event), |conn, (id, step, event)| {
            Box::pin(async move {
                if !accept_totp_step(conn, *id, *step).await? {
                    return Err(wrong_code());
                }
                Ok(Staged {
                    value: (),
                    events: vec![event.clone()],
                })
            })
        })
        .await
}

/// Refused: the code given is not the authenticator's current one.
fn wrong_code() -> LoginError {
    LoginError::Invalid(vec![FieldError::new(
        "code",
        "is not the current code of your authenticator app",
    )])
}
