//! User accounts: creation (CLI and admin API), re-scoping and disabling, each change
//! written to the audit log in the same transaction, under the permit that allowed
//! it (an administrator's decision, or the console's operator permit).

use zeroize::Zeroizing;

use crate::audit::AuditEvent;
use crate::auth::password;
use crate::authz::Role;
use crate::cases::access::Permit;
use crate::field::FieldError;
use crate::store::users::{
    NewUser, UserRecord, active_admins, disable_user, insert_user, rescope_user,
};
use crate::store::writer::Staged;
use crate::store::{LockKey, Store, StoreError, lock_keys};

/// Why a user operation failed.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// Bad input; every problem listed.
    #[error("invalid user")]
    Invalid(Vec<FieldError>),
    /// The username is taken.
    #[error("username is already taken")]
    UsernameTaken,
    /// The change would leave the registry without an active administrator, or an
    /// administrator would lock themselves out.
    #[error("{1}")]
    Refused(&'static str, &'static str),
    /// No such user.
    #[error("no such user")]
    NotFound,
    /// Storage failure.
    #[error(transparent)]
    Store(StoreError),
    /// Hashing or RNG failure.
    #[error("password hashing failed")]
    Hashing,
}

impl From<StoreError> for UserError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Conflict(crate::store::Unique::Username) => Self::UsernameTaken,
            StoreError::NotFound => Self::NotFound,
            other => Self::Store(other),
        }
    }
}

/// Role and scope as requested.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// Role name.
    pub role: String,
    /// Facility code (clinicians only).
    pub facility: Option<String>,
    /// Municipality slug (social workers only).
    pub municipality: Option<String>,
}

/// A new account as requested.
#[derive(Clone, Default)]
pub struct NewAccount {
    /// Login name: 3-64 of a-z, 0-9, `.`, `_`, `-`.
    pub username: String,
    /// Role and scope.
    pub scope: Scope,
    /// The first password.
    pub password: InitialPassword,
}

/// An account's first password. Whoever set it other than the user knows it, so
/// it must be changed at first login.
#[derive(Clone, Default)]
pub enum InitialPassword {
    /// Generated, shown once, changed at first login.
    #[default]
    Generated,
    /// Chosen by an administrator (`POST /users`, `users add --password-stdin`):
    /// changed at first login.
    SetByAdmin(Zeroizing<String>),
    /// Already final: the demo's accounts (for trying the service; their
    /// passwords are printed once) and test fixtures.
    Final(Zeroizing<String>),
}

/// A created account; `initial_password` is shown once and never stored in clear.
#[derive(Debug)]
pub struct Created {
    /// The account.
    pub user_id: String,
    /// Generated one-time password, if none was given.
    pub initial_password: Option<Zeroizing<String>>,
}

fn check_username(username: &str, errors: &mut Vec<FieldError>) {
    let ok = (3..=64).contains(&username.len())
        && username.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        });
    if !ok {
        errors.push(FieldError::new(
            "username",
            "must be 3-64 characters of a-z, 0-9, '.', '_' or '-'",
        ));
    }
}

async fn check_scope(
    store: &Store,
    scope: &Scope,
    errors: &mut Vec<FieldError>,
) -> Result<(), StoreError> {
    let Ok(role) = scope.role.parse::<Role>() else {
        errors.push(FieldError::new(
            "role",
            "must be one of clinician, social_worker, police, forensic, analyst, auditor, admin",
        ));
        return Ok(());
    };
    match role {
        Role::Clinician => match &scope.facility {
            None => errors.push(FieldError::new("facility", "is required for a clinician")),
            Some(code) if !store.facility_exists(code).await? => {
                errors.push(FieldError::new("facility", "is not a known facility code"));
            }
            Some(_) => {}
        },
        _ if scope.facility.is_some() => {
            errors.push(FieldError::new(
                "facility",
                "only clinicians have a facility",
            ));
        }
        _ => {}
    }
    match role {
        Role::SocialWorker => match &scope.municipality {
            None => errors.push(FieldError::new(
                "municipality",
                "is required for a social worker",
            )),
            Some(slug) if !store.municipality_exists(slug).await? => {
                errors.push(FieldError::new(
                    "municipality",
                    "is not a known municipality",
                ));
            }
            Some(_) => {}
        },
        _ if scope.municipality.is_some() => errors.push(FieldError::new(
            "municipality",
            "only social workers have a municipality",
        )),
        _ => {}
    }
    Ok(())
}

/// Creates an account (audited in the same transaction).
pub async fn create(
    store: &Store,
    permit: &Permit,
    account: NewAccount,
) -> Result<Created, UserError> {
    let mut errors = Vec::new();
    check_username(&account.username, &mut errors);
    check_scope(store, &account.scope, &mut errors).await?;
    if let InitialPassword::SetByAdmin(p) | InitialPassword::Final(p) = &account.password {
        if let Err(e) = password::check_new(p, &account.username, "password") {
            errors.push(e);
        }
    }
    if !errors.is_empty() {
        return Err(UserError::Invalid(errors));
    }
    let (password, generated, must_change) = match account.password {
        InitialPassword::Final(p) => (p, None, false),
        InitialPassword::SetByAdmin(p) => (p, None, true),
        InitialPassword::Generated => {
            let p = password::generate().map_err(|_| UserError::Hashing)?;
            (p.clone(), Some(p), true)
        }
    };
    let hash = password::hash(password)
        .await
        .map_err(|_| UserError::Hashing)?;
    let user_id = uuid::Uuid::new_v4().to_string();
    let event = AuditEvent {
        detail: Some(format!("role={}", account.scope.role)),
        ..permit.event("create_user", Some(&user_id))
    };
    let job = (
        user_id.clone(),
        account.username,
        account.scope,
        hash,
        must_change,
        event,
    );
    store
        .write_with(
            job,
            |conn, (user_id, username, scope, hash, must_change, event)| {
                Box::pin(async move {
                    let user = NewUser {
                        user_id,
                        username,
                        role: &scope.role,
                        facility: scope.facility.as_deref(),
                        municipality: scope.municipality.as_deref(),
                        password_hash: hash,
                        must_change_password: *must_change,
                    };
                    insert_user(conn, &user).await?;
                    Ok::<_, UserError>(Staged {
                        value: (),
                        events: vec![event.clone()],
                    })
                })
            },
        )
        .await?;
    Ok(Created {
        user_id,
        initial_password: generated,
    })
}

/// Refused: no active administrator would be left to manage accounts and keys.
const LAST_ADMIN: UserError = UserError::Refused(
    "last_admin",
    "this is the last active administrator; make another administrator first",
);

/// Disabling and re-scoping take this lock, so two administrators disabling each
/// other at the same moment cannot both succeed and leave none (PostgreSQL; SQLite
/// writes run one at a time).
fn admins_lock() -> LockKey {
    LockKey::of("active-admins", &[])
}

/// Changes a user's role and scope; applies on the user's next request.
pub async fn rescope(
    store: &Store,
    permit: &Permit,
    user_id: &str,
    scope: Scope,
) -> Result<(), UserError> {
    let mut errors = Vec::new();
    check_scope(store, &scope, &mut errors).await?;
    if !errors.is_empty() {
        return Err(UserError::Invalid(errors));
    }
    let event = AuditEvent {
        detail: Some(format!("role={}", scope.role)),
        ..permit.event("rescope_user", Some(user_id))
    };
    let job = (user_id.to_owned(), scope, event);
    store
        .write_with(job, |conn, (user_id, scope, event)| {
            Box::pin(async move {
                lock_keys(conn, [admins_lock()]).await?;
                let (facility, municipality) =
                    (scope.facility.as_deref(), scope.municipality.as_deref());
                rescope_user(conn, user_id, &scope.role, facility, municipality).await?;
                if active_admins(conn).await? == 0 {
                    return Err(LAST_ADMIN);
                }
                Ok(Staged {
                    value: (),
                    events: vec![event.clone()],
                })
            })
        })
        .await
}

/// Disables a user and revokes every session of theirs at once.
pub async fn disable(store: &Store, permit: &Permit, user_id: &str) -> Result<bool, UserError> {
    if permit.actor() == user_id {
        return Err(UserError::Refused(
            "own_account",
            "you cannot disable your own account; another administrator can",
        ));
    }
    let job = (
        user_id.to_owned(),
        permit.event("disable_user", Some(user_id)),
    );
    store
        .write_with(job, |conn, (user_id, event)| {
            Box::pin(async move {
                lock_keys(conn, [admins_lock()]).await?;
                let changed = disable_user(conn, user_id, crate::auth::unix_now()).await?;
                if active_admins(conn).await? == 0 {
                    return Err(LAST_ADMIN);
                }
                Ok(Staged {
                    value: changed,
                    events: vec![event.clone()],
                })
            })
        })
        .await
}

/// The public view of an account (no hash, no secrets).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct AccountView {
    /// Public id.
    pub user_id: String,
    /// Login name.
    pub username: String,
    /// Role.
    pub role: String,
    /// Facility (clinicians).
    pub facility: Option<String>,
    /// Municipality (social workers).
    pub municipality: Option<String>,
    /// Whether TOTP is enabled.
    pub totp_enabled: bool,
    /// Whether the one-time password must still be changed.
    pub must_change_password: bool,
    /// Created at (UTC).
    pub created_at: String,
    /// Disabled at (UTC), if disabled.
    pub disabled_at: Option<String>,
}

impl From<UserRecord> for AccountView {
    fn from(u: UserRecord) -> Self {
        Self {
            user_id: u.user_id,
            username: u.username,
            role: u.role,
            facility: u.facility,
            municipality: u.municipality,
            totp_enabled: u.totp_enabled,
            must_change_password: u.must_change_password,
            created_at: u.created_at,
            disabled_at: u.disabled_at,
        }
    }
}
