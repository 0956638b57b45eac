//! The audit log's seals on the server: tamper-evident without making every
//! write wait on one lock.
//!
//! On SQLite the one writer appends each audit row with its HMAC in the write
//! transaction. On PostgreSQL writers run in parallel, and ids are handed out
//! before commit, so id order is not commit order: a chain written inside the
//! writes would serialize them all on its head. Instead a writer only INSERTs its
//! row (the desks' role may do nothing else to the log), and a sealer chains the
//! rows afterwards, in commit order: under an advisory lock only sealers take, it
//! seals every committed row not sealed yet (a row that commits later is sealed
//! by a later round; a round reads the rows above the newest it saw and the ids
//! it found missing below it, and the whole log every 30 s, [`SealCursor`]).
//! Each seal is HMAC-SHA-256(key, previous seal's MAC, the row's fields); the
//! key is outside the database, so someone who can change rows on the server (a
//! superuser, a restored dump) cannot make a changed row or a removed seal
//! verify. The newest seal is also written to the desk's anchor file
//! (outside the server, as the SQLite log's head is), so removing the newest
//! rows together with their seals is found too.

use hmac::{Hmac, Mac};
use postgres::Row;
use sha2::Sha256;

use super::{to_error, PgClinic};
use crate::error::{Error, Result};
use crate::storage::audit_key::{Anchor, AnchorFile, AuditKey, KeyFolder};

/// How often a sealer reads the whole log for rows not sealed yet. Between,
/// it reads only the rows above the newest it saw and the ids it found missing
/// below that (rows of transactions still open then): on a log of a million
/// rows the whole read took 425 ms, every 2 s for each desk with the key.
/// (Well inside the minute `check` allows a row to stay unsealed.)
const WHOLE_LOG_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// How far below the newest id a whole-log round notes the missing ids. A
/// transaction open across more ids than this has its row sealed by the next
/// whole-log round instead.
const MISSING_WINDOW: i64 = 10_000;

/// Rows one sealing round seals at most (one transaction). A round that seals
/// a whole log at once wrote megabytes of WAL in one go, and every desk's
/// commit in that moment waited for it to be flushed (the bench's 32 desks all
/// stalled together for 85–100 ms every two seconds). In chunks of this size a
/// round writes about 240 kB.
const SEAL_CHUNK: i64 = 500;

/// The background sealer's pause between two full chunks: the desks' commits
/// go first.
const SEAL_PAUSE: std::time::Duration = std::time::Duration::from_millis(20);

/// Where a sealer's rounds left off: every audit id up to `above` was seen
/// committed (and so sealed) or is in `missing`, in the database `database`
/// (its oid: a restore puts a new database in the clinic's place, whose ids
/// start again below `above`).
#[derive(Debug)]
pub(crate) struct SealCursor {
    database: u32,
    above: i64,
    missing: Vec<i64>,
    whole_at: std::time::Instant,
}

/// What [`PgClinic::verify_audit`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditVerdict {
    /// Seals checked.
    pub sealed: u64,
    /// The first seal (by `seq`) whose row or chain does not verify.
    pub first_bad_seal: Option<i64>,
    /// The anchor names a seal that is not there as it was written (the newest
    /// seals were removed or changed).
    pub anchored_seal_missing: bool,
    /// Rows not sealed yet.
    pub unsealed: u64,
}

const EVENT: &str = "e.id, e.at, e.actor, e.action, e.entity, e.entity_id, e.detail, e.state";

/// An audit row's fields as the seal covers them, in [`EVENT`]'s order: numbers
/// in decimal, a missing entity id empty (as a backup's COPY text has them, bar
/// its NULL marker).
pub(crate) type EventFields = [String; 8];

fn fields(r: &Row) -> EventFields {
    let entity_id: Option<i64> = r.get(5);
    [
        r.get::<_, i64>(0).to_string(),
        r.get::<_, i64>(1).to_string(),
        r.get(2),
        r.get(3),
        r.get(4),
        entity_id.map(|n| n.to_string()).unwrap_or_default(),
        r.get(6),
        r.get(7),
    ]
}

/// The seal of the row with `fields` after the seal `previous`.
pub(crate) fn mac(key: &AuditKey, previous: &str, fields: &EventFields) -> String {
    let mut m = Hmac::<Sha256>::new_from_slice(&key.0).expect("HMAC takes any key length");
    // the record's state after the change (schema 2); rows without one keep the
    // MAC they were sealed with before it existed
    let parts = if fields[7].is_empty() {
        &fields[..7]
    } else {
        &fields[..]
    };
    for part in std::iter::once(previous).chain(parts.iter().map(String::as_str)) {
        m.update(&(part.len() as u64).to_le_bytes());
        m.update(part.as_bytes());
    }
    hex::encode(m.finalize().into_bytes())
}

impl PgClinic {
    /// Seals every audit row that can be sealed now (see the module docs) and
    /// moves `anchor` to the newest seal; returns how many. Sealers take turns;
    /// writers never wait for them.
    pub fn seal_audit(&self, key: &AuditKey, anchor: &AnchorFile) -> Result<u64> {
        self.seal_rounds(key, anchor, std::time::Duration::ZERO)
    }

    /// Sealing rounds of at most [`SEAL_CHUNK`] rows each until none is left,
    /// `pause` between two; returns how many rows they sealed.
    fn seal_rounds(
        &self,
        key: &AuditKey,
        anchor: &AnchorFile,
        pause: std::time::Duration,
    ) -> Result<u64> {
        let mut cursor = self
            .seal_cursor
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut sealed = 0;
        loop {
            // a round that fails leaves no cursor: the next reads the whole log
            let last = cursor.take();
            let (n, next, more) = self.seal_round(key, anchor, last)?;
            *cursor = Some(next);
            sealed += n;
            if !more {
                return Ok(sealed);
            }
            std::thread::sleep(pause);
        }
    }

    /// One sealing round from where `cursor` left off (the whole log when
    /// there is none or it is due): the first [`SEAL_CHUNK`] rows it reads.
    /// Returns how many it sealed, where the next round starts, and whether
    /// it stopped at the chunk's end (more may be waiting).
    fn seal_round(
        &self,
        key: &AuditKey,
        anchor: &AnchorFile,
        cursor: Option<SealCursor>,
    ) -> Result<(u64, SealCursor, bool)> {
        let mut s = self.session()?;
        let mut tx = s.transaction().map_err(to_error)?;
        tx.execute("SELECT pg_advisory_xact_lock(7436, 2)", &[])
            .map_err(to_error)?;
        // never on top of a log that lost the seal this PC recorded last: rows
        // removed from its end would be covered by the new seals
        if let Some(a) = anchor.read()?.filter(|a| a.head_id > 0) {
            let there: Option<String> = tx
                .query_opt("SELECT mac FROM audit_seal WHERE seq = $1", &[&a.head_id])
                .map_err(to_error)?
                .map(|r| r.get(0));
            if there.as_deref() != Some(a.head_hash.as_str()) {
                return Err(Error::Unusable(format!(
                    "the audit log on the clinic server lost or changed its seal {} that this PC \
                     recorded: sealed rows were removed or changed, or the database was restored \
                     from a backup. Nothing more is sealed from this PC until an administrator \
                     looks: `frontdesk check`, then, after a restore, `frontdesk accept-restore`",
                    a.head_id
                )));
            }
        }
        let head = tx
            .query_one(
                "SELECT (SELECT mac FROM audit_seal ORDER BY seq DESC LIMIT 1),
                        (SELECT oid FROM pg_database WHERE datname = current_database())",
                &[],
            )
            .map_err(to_error)?;
        let previous: String = head.get::<_, Option<String>>(0).unwrap_or_default();
        let database: u32 = head.get(1);
        let cursor =
            cursor.filter(|c| c.database == database && c.whole_at.elapsed() < WHOLE_LOG_EVERY);
        let (rows, next) = match cursor {
            Some(c) => {
                // the rows above the last round's newest and the ids it missed,
                // sealed or not, in one statement (so one snapshot)
                let rows = tx
                    .query(
                        &format!(
                            "SELECT {EVENT},
                                    EXISTS (SELECT 1 FROM audit_seal s WHERE s.event_id = e.id)
                             FROM audit_event e WHERE e.id > $1 OR e.id = ANY($2)
                             ORDER BY e.id LIMIT $3"
                        ),
                        &[&c.above, &c.missing, &SEAL_CHUNK],
                    )
                    .map_err(to_error)?;
                let seen: std::collections::BTreeSet<i64> =
                    rows.iter().map(|r| r.get::<_, i64>(0)).collect();
                let above = seen.last().copied().unwrap_or(c.above).max(c.above);
                let missing = c
                    .missing
                    .iter()
                    .copied()
                    // (a jump in the ids, a restore's, is left to the whole-log round)
                    .chain((c.above + 1).max(above - MISSING_WINDOW + 1)..=above)
                    .filter(|id| !seen.contains(id))
                    .collect();
                let next = SealCursor {
                    database,
                    above,
                    missing,
                    whole_at: c.whole_at,
                };
                (rows, next)
            }
            None => {
                // the first rows not sealed; the round's end is the last of
                // them when it filled the chunk, else the log's newest id; and
                // the ids missing just below the end (rows of transactions
                // still open): in one statement, so one snapshot
                let rows = tx
                    .query(
                        &format!(
                            "WITH r AS (SELECT {EVENT} FROM audit_event e
                                        WHERE NOT EXISTS (SELECT 1 FROM audit_seal s WHERE s.event_id = e.id)
                                        ORDER BY e.id LIMIT $2),
                                  top AS (SELECT CASE WHEN (SELECT count(*) FROM r) = $2
                                                      THEN (SELECT max(id) FROM r)
                                                      ELSE (SELECT coalesce(max(id), 0) FROM audit_event)
                                                 END AS n),
                                  ends AS (SELECT top.n, ARRAY(
                                               SELECT g FROM generate_series(greatest(top.n - $1, 0) + 1, top.n) g
                                               WHERE NOT EXISTS (SELECT 1 FROM audit_event WHERE id = g)) AS missing
                                           FROM top)
                             SELECT r.*, FALSE, ends.n, ends.missing
                             FROM ends LEFT JOIN r ON TRUE ORDER BY r.id"
                        ),
                        &[&MISSING_WINDOW, &SEAL_CHUNK],
                    )
                    .map_err(to_error)?;
                let next = SealCursor {
                    database,
                    above: rows[0].get(9),
                    missing: rows[0].get(10),
                    whole_at: std::time::Instant::now(),
                };
                // (no row to seal: the one row answered is the round's end alone)
                let rows = rows
                    .into_iter()
                    .filter(|r| r.get::<_, Option<i64>>(0).is_some())
                    .collect();
                (rows, next)
            }
        };
        let more = rows.len() as i64 >= SEAL_CHUNK;
        let mut ids = Vec::with_capacity(rows.len());
        let mut macs = Vec::with_capacity(rows.len());
        let mut last = previous;
        for r in rows.iter().filter(|r| !r.get::<_, bool>(8)) {
            last = mac(key, &last, &fields(r));
            ids.push(r.get::<_, i64>(0));
            macs.push(last.clone());
        }
        let head: Option<i64> = tx
            .query_one(
                "WITH sealed AS (
                     INSERT INTO audit_seal (event_id, mac)
                     SELECT id, mac FROM unnest($1::bigint[], $2::text[]) WITH ORDINALITY AS t(id, mac, n)
                     ORDER BY n RETURNING seq)
                 SELECT max(seq) FROM sealed",
                &[&ids, &macs],
            )
            .map_err(to_error)?
            .get(0);
        tx.commit().map_err(to_error)?;
        if let Some(seq) = head {
            anchor.advance(0, seq, &last)?;
        }
        Ok((ids.len() as u64, next, more))
    }

    /// Walks the seals in order and recomputes each under `key`, and checks
    /// that the seal `anchor` names is there as it was written.
    pub fn verify_audit(&self, key: &AuditKey, anchor: &AnchorFile) -> Result<AuditVerdict> {
        self.verify_seals(key, anchor.read()?.filter(|a| a.head_id > 0))
    }

    fn verify_seals(&self, key: &AuditKey, anchored: Option<Anchor>) -> Result<AuditVerdict> {
        let mut session = self.session()?;
        let mut s = session.transaction().map_err(to_error)?;
        // the whole log in one statement, however long it has grown
        s.batch_execute("SET LOCAL statement_timeout = 0")
            .map_err(to_error)?;
        let rows = s
            .query(
                &format!(
                    "SELECT {EVENT}, s.seq, s.mac FROM audit_seal s
                     LEFT JOIN audit_event e ON e.id = s.event_id ORDER BY s.seq"
                ),
                &[],
            )
            .map_err(to_error)?;
        let mut previous = String::new();
        let mut first_bad_seal = None;
        let mut anchored_seal_missing = anchored.is_some();
        for r in &rows {
            let seq: i64 = r.get(8);
            let stored: String = r.get(9);
            if anchored
                .as_ref()
                .is_some_and(|a| a.head_id == seq && a.head_hash == stored)
            {
                anchored_seal_missing = false;
            }
            let intact =
                r.get::<_, Option<i64>>(0).is_some() && mac(key, &previous, &fields(r)) == stored;
            if !intact && first_bad_seal.is_none() {
                first_bad_seal = Some(seq);
            }
            previous = stored;
        }
        let unsealed: i64 = s
            .query_one(
                "SELECT count(*) FROM audit_event e
                 WHERE NOT EXISTS (SELECT 1 FROM audit_seal s WHERE s.event_id = e.id)",
                &[],
            )
            .map_err(to_error)?
            .get(0);
        Ok(AuditVerdict {
            sealed: rows.len() as u64,
            first_bad_seal,
            anchored_seal_missing,
            unsealed: unsealed as u64,
        })
    }
}

impl PgClinic {
    /// Seals what the desks wrote so far, now, when this PC has the clinic's key
    /// (a backup taken next holds a log sealed up to it); returns how many.
    pub fn seal_now(&self, keys: &KeyFolder) -> Result<u64> {
        let clinic: Option<String> = self
            .session()?
            .query_opt("SELECT value FROM setting WHERE key = 'clinic.id'", &[])
            .map_err(to_error)?
            .map(|r| r.get(0));
        let Some(clinic) =
            clinic.filter(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_hexdigit()))
        else {
            return Ok(0);
        };
        match keys.load(&clinic)? {
            Some(key) => self.seal_audit(&key, &keys.server_anchor(&clinic)?),
            None => Ok(0),
        }
    }
}

/// How far apart two PCs' clocks may be when [`PgClinic::accept_restore`]
/// compares the restore's time with this PC's last seal.
const CLOCK_SKEW_SECS: i64 = 15 * 60;

/// What [`PgClinic::accept_restore`] took as this PC's anchor.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AcceptedRestore {
    /// Seals verified from the first.
    pub sealed: u64,
    /// The newest seal, now this PC's anchor.
    pub head_seq: i64,
    /// When the restore took place (Unix seconds).
    pub restored_at: i64,
}

impl PgClinic {
    /// Moves `anchor` to the log's newest seal, or empties it when the log has
    /// none (a backup sealed by no PC); returns the seal's number (0: none).
    pub(crate) fn anchor_at_newest_seal(&self, anchor: &AnchorFile) -> Result<i64> {
        let newest: Option<(i64, String)> = self
            .session()?
            .query_opt(
                "SELECT seq, mac FROM audit_seal ORDER BY seq DESC LIMIT 1",
                &[],
            )
            .map_err(to_error)?
            .map(|r| (r.get(0), r.get(1)));
        match &newest {
            Some((seq, mac)) => anchor.reset(0, *seq, mac)?,
            None => anchor.clear()?,
        }
        Ok(newest.map_or(0, |(seq, _)| seq))
    }

    /// After the clinic's database was restored from a backup, a PC whose
    /// anchor names a seal the restored log does not have takes the restored
    /// log's newest seal as its anchor — only when every seal verifies from the
    /// first under `key`, and the log holds a restore (`backup.restore`) that
    /// took place after this PC last sealed. Sealed rows removed without a
    /// restore, or under an old restore, are never accepted. The restore's row
    /// may be unsealed (a restore run on a PC without the key cannot seal it;
    /// this PC's sealer seals it next): only the database's owner may write
    /// one (schema 3), never the desks' role, and the owner may do anything a
    /// restore does anyway.
    pub fn accept_restore(&self, key: &AuditKey, anchor: &AnchorFile) -> Result<AcceptedRestore> {
        let verdict = self.verify_seals(key, None)?;
        if let Some(seq) = verdict.first_bad_seal {
            return Err(Error::invalid(format!(
                "seal {seq} of the audit log does not verify: a sealed row was changed or \
                 removed. Nothing was accepted"
            )));
        }
        let mut s = self.session()?;
        let restored_at: Option<i64> = s
            .query_one(
                "SELECT max(at) FROM audit_event WHERE action = 'backup.restore'",
                &[],
            )
            .map_err(to_error)?
            .get(0);
        let last_sealed = anchor.written_at().unwrap_or(i64::MIN);
        let Some(restored_at) =
            restored_at.filter(|at| *at >= last_sealed.saturating_sub(CLOCK_SKEW_SECS))
        else {
            return Err(Error::invalid(
                "the audit log records no restore from a backup since this PC last sealed it, so \
                 its missing seals were removed, not restored over. Nothing was accepted; keep \
                 the database as it is for whoever looks into it",
            ));
        };
        drop(s);
        let head_seq = self.anchor_at_newest_seal(anchor)?;
        Ok(AcceptedRestore {
            sealed: verdict.sealed,
            head_seq,
            restored_at,
        })
    }
}

/// How often a desk's sealer seals what the desks wrote meanwhile.
pub const SEAL_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// A desk's sealer thread: it ends when this is dropped (with the desk).
pub struct Sealer {
    _stop: std::sync::mpsc::Sender<()>,
}

impl PgClinic {
    /// Starts this desk's sealer when the PC has the clinic's audit key (from
    /// `keys`, filed under the server's `clinic.id`), or makes the key when the
    /// server's log was never sealed (a clinic begun on the server). Without the
    /// key the desk writes as usual and a desk that has it seals. Every
    /// [`SEAL_EVERY`], on a session of its own, it seals the committed rows not
    /// sealed yet ([`PgClinic::seal_audit`]: sealers take turns under an advisory
    /// lock, so any number of desks may run one).
    pub fn start_sealer(&self, keys: &KeyFolder) -> Result<Option<Sealer>> {
        let mut s = self.session()?;
        let row = s
            .query_one(
                "SELECT (SELECT value FROM setting WHERE key = 'clinic.id'),
                        EXISTS (SELECT 1 FROM audit_seal)",
                &[],
            )
            .map_err(to_error)?;
        drop(s);
        let (clinic, sealed): (Option<String>, bool) = (row.get(0), row.get(1));
        let Some(clinic) =
            clinic.filter(|c| c.bytes().all(|b| b.is_ascii_hexdigit()) && !c.is_empty())
        else {
            return Ok(None);
        };
        let key = match (keys.load(&clinic)?, sealed) {
            (Some(key), _) => key,
            (None, false) => keys.create(&clinic)?.0,
            (None, true) => {
                tracing::info!(
                    "this PC has not the clinic's audit key ({}); other desks seal the log",
                    keys.key_path(&clinic).display()
                );
                return Ok(None);
            }
        };
        let anchor = keys.server_anchor(&clinic)?;
        let sealer = PgClinic::connect_like(self, 1);
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || loop {
            match stopped.recv_timeout(SEAL_EVERY) {
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                _ => return,
            }
            if let Err(e) = sealer.seal_rounds(&key, &anchor, SEAL_PAUSE) {
                tracing::warn!("sealing the audit log on the clinic server: {e}");
            }
        });
        Ok(Some(Sealer { _stop: stop }))
    }
}
