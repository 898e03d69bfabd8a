//! Audit storage: appending to the hash chain inside the caller's transaction, reading
//! it back for verification and for the auditor's queries, and checkpoints.
//!
//! The head row is locked by every append (`for update` on PostgreSQL; SQLite write
//! transactions are already exclusive), so concurrent writers from several service
//! instances append one after another and the chain stays a single line.

use crate::store::db::{self, Conn, Row};

use super::db::Arg;
use super::writer::Staged;
use super::{Backend, Store, StoreError, now_rfc3339};
use crate::audit::{AuditEvent, Checkpoint, StoredEvent, chain_hash};

fn hash32(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    if bytes.len() == 32 {
        out.copy_from_slice(bytes);
    }
    out
}

/// Appends an event within the caller's transaction; returns its sequence number.
pub async fn append(
    conn: &mut Conn,
    backend: Backend,
    event: &AuditEvent,
) -> Result<i64, StoreError> {
    let seqs = append_all(conn, backend, std::slice::from_ref(event)).await?;
    Ok(seqs.first().copied().unwrap_or_default())
}

/// Appends events in order within the caller's transaction, reading and moving the
/// chain head once; returns their sequence numbers.
pub async fn append_all(
    conn: &mut Conn,
    backend: Backend,
    events: &[AuditEvent],
) -> Result<Vec<i64>, StoreError> {
    let head_query = match backend {
        Backend::Postgres => "select seq, hash from audit_head where id = 1 for update",
        Backend::Sqlite => "select seq, hash from audit_head where id = 1",
    };
    let head = db::query(head_query).fetch_one(&mut *conn).await?;
    let mut seq: i64 = head.try_get("seq")?;
    let mut prev_hash = hash32(&head.try_get::<Vec<u8>, _>("hash")?);
    let mut rows = Vec::with_capacity(events.len());
    for event in events {
        seq += 1;
        let occurred_at = now_rfc3339();
        let hash = chain_hash(
            &prev_hash,
            seq,
            &occurred_at,
            &event.actor,
            &event.role,
            &event.action,
            event.object.as_deref(),
            event.outcome.as_str(),
            event.rule.as_deref(),
            event.purpose.as_deref(),
            event.detail.as_deref(),
        );
        rows.push((seq, occurred_at, event, prev_hash, hash));
        prev_hash = hash;
    }
    // Many rows per statement: a group commit's events cost one round trip per
    // chunk, not one per event (12 binds a row; both backends take far more).
    for chunk in rows.chunks(64) {
        let values: Vec<String> = (0..chunk.len())
            .map(|r| {
                let binds: Vec<String> = (1..=12).map(|c| format!("${}", r * 12 + c)).collect();
                format!("({})", binds.join(", "))
            })
            .collect();
        let sql = format!(
            "insert into audit_event (seq, occurred_at, actor, role, action, object, outcome, \
             rule, purpose, detail, prev_hash, hash) values {}",
            values.join(", ")
        );
        let mut query = db::query(&sql);
        for (seq, occurred_at, event, prev_hash, hash) in chunk {
            query = query
                .bind(*seq)
                .bind(occurred_at.as_str())
                .bind(event.actor.as_str())
                .bind(event.role.as_str())
                .bind(event.action.as_str())
                .bind(event.object.as_deref())
                .bind(event.outcome.as_str())
                .bind(event.rule.as_deref())
                .bind(event.purpose.as_deref())
                .bind(event.detail.as_deref())
                .bind(prev_hash.to_vec())
                .bind(hash.to_vec());
        }
        query.execute(&mut *conn).await?;
    }
    let seqs = rows.iter().map(|(seq, ..)| *seq).collect();
    db::query("update audit_head set seq = $1, hash = $2 where id = 1")
        .bind(seq)
        .bind(prev_hash.to_vec())
        .execute(&mut *conn)
        .await?;
    Ok(seqs)
}

fn event_from_row(row: &Row) -> Result<StoredEvent, sqlx::Error> {
    Ok(StoredEvent {
        seq: row.try_get("seq")?,
        occurred_at: row.try_get("occurred_at")?,
        actor: row.try_get("actor")?,
        role: row.try_get("role")?,
        action: row.try_get("action")?,
        object: row.try_get("object")?,
        outcome: row.try_get("outcome")?,
        rule: row.try_get("rule")?,
        purpose: row.try_get("purpose")?,
        detail: row.try_get("detail")?,
        prev_hash: hex::encode(row.try_get::<Vec<u8>, _>("prev_hash")?),
        hash: hex::encode(row.try_get::<Vec<u8>, _>("hash")?),
    })
}

const EVENT_COLUMNS: &str = "seq, occurred_at, actor, role, action, object, outcome, rule, purpose, detail, prev_hash, hash";

/// Filters for the auditor's queries.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only events by this actor.
    pub actor: Option<String>,
    /// Only events about this object.
    pub object: Option<String>,
    /// Only events at or after this time (RFC 3339).
    pub from: Option<String>,
    /// Only events before this time (RFC 3339).
    pub to: Option<String>,
    /// Only events after this sequence number (paging).
    pub after_seq: i64,
    /// At most this many events.
    pub limit: i64,
}

impl Store {
    /// Appends events through the group-commit writer and waits until they are
    /// durable: under load, many standalone events (access decisions, logins) share
    /// one transaction and one chain step.
    pub async fn audit_batch(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        let events = events.to_vec();
        self.write(move |_| {
            let events = events.clone();
            Box::pin(async move { Ok::<_, StoreError>(Staged { value: (), events }) })
        })
        .await
    }

    /// Appends one event through the group-commit writer (see `audit_batch`).
    pub async fn audit(&self, event: &AuditEvent) -> Result<(), StoreError> {
        self.audit_batch(std::slice::from_ref(event)).await
    }

    /// Events with `seq > after`, in order, at most `limit` (verification pages).
    pub async fn audit_page(&self, after: i64, limit: i64) -> Result<Vec<StoredEvent>, StoreError> {
        let rows = db::query(&format!(
            "select {EVENT_COLUMNS} from audit_event where seq > $1 order by seq limit $2"
        ))
        .bind(after)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(event_from_row).collect::<Result<_, _>>()?)
    }

    /// Events matching a filter, oldest first.
    pub async fn audit_query(&self, filter: &AuditFilter) -> Result<Vec<StoredEvent>, StoreError> {
        let rows = db::query(&format!(
            "select {EVENT_COLUMNS} from audit_event where seq > $1 \
             and ($2 is null or actor = $2) and ($3 is null or object = $3) \
             and ($4 is null or occurred_at >= $4) and ($5 is null or occurred_at < $5) \
             order by seq limit $6"
        ))
        .bind(filter.after_seq)
        .bind(filter.actor.as_deref())
        .bind(filter.object.as_deref())
        .bind(filter.from.as_deref().map(comparable))
        .bind(filter.to.as_deref().map(comparable))
        .bind(filter.limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(event_from_row).collect::<Result<_, _>>()?)
    }

    /// The recorded head `(seq, hash)`.
    pub async fn audit_head(&self) -> Result<(i64, [u8; 32]), StoreError> {
        let row = db::query("select seq, hash from audit_head where id = 1")
            .fetch_one(self.pool())
            .await?;
        Ok((
            row.try_get("seq")?,
            hash32(&row.try_get::<Vec<u8>, _>("hash")?),
        ))
    }

    /// Stores a signed checkpoint.
    pub async fn save_checkpoint(&self, checkpoint: &Checkpoint) -> Result<(), StoreError> {
        self.write_statement(
            "insert into audit_checkpoint (seq, hash, signed_at, public_key, signature) \
             values ($1, $2, $3, $4, $5) on conflict (seq) do nothing"
                .into(),
            vec![
                Arg::Int(Some(checkpoint.seq)),
                Arg::Bytes(Some(hex::decode(&checkpoint.hash).unwrap_or_default())),
                Arg::Text(Some(checkpoint.signed_at.clone())),
                Arg::Bytes(Some(
                    hex::decode(&checkpoint.public_key).unwrap_or_default(),
                )),
                Arg::Bytes(Some(hex::decode(&checkpoint.signature).unwrap_or_default())),
            ],
        )
        .await?;
        Ok(())
    }

    /// Every stored checkpoint, oldest first.
    pub async fn checkpoints(&self) -> Result<Vec<Checkpoint>, StoreError> {
        let rows = db::query(
            "select seq, hash, signed_at, public_key, signature from audit_checkpoint order by seq",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Checkpoint {
                    seq: r.try_get("seq")?,
                    hash: hex::encode(r.try_get::<Vec<u8>, _>("hash")?),
                    signed_at: r.try_get("signed_at")?,
                    public_key: hex::encode(r.try_get::<Vec<u8>, _>("public_key")?),
                    signature: hex::encode(r.try_get::<Vec<u8>, _>("signature")?),
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }
}

/// A time bound in the stored form, so that text comparison is time order whatever
/// precision or offset the caller wrote (`…T10:00:00+01:00`, `…T09:00:00.5Z`).
fn comparable(bound: &str) -> String {
    crate::clock::normalize_stamp(bound).unwrap_or_else(|| bound.to_owned())
}
