//! Authentication: passwords, sessions (opaque bearer tokens), login throttling and
//! the TOTP second factor.

pub mod password;
pub mod token;
pub mod totp;

/// Idle timeout of a session: it ends after this long without a request.
pub const SESSION_IDLE_SECS: i64 = 30 * 60;
/// Absolute lifetime of a session, however active.
pub const SESSION_ABSOLUTE_SECS: i64 = 12 * 60 * 60;
/// Failed logins for one account within the window before it is locked.
pub const ACCOUNT_FAILURE_LIMIT: i64 = 5;
/// Failed logins from one client address within the window before it is locked.
pub const ADDRESS_FAILURE_LIMIT: i64 = 20;
/// Length of the failure window and of a lockout.
pub const THROTTLE_WINDOW_SECS: i64 = 15 * 60;

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}
