//! Health probes: one dedicated connection per backend, one round trip per
//! probe, `pg_catalog`-qualified functions (a hostile `search_path` cannot
//! redirect them; no operators are used, as those resolve through it too),
//! each bounded by the probe timeout.

use std::time::Duration;

use crate::backend::{self, BackendConn, ConnectParams};

/// What one probe learned about a backend.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Observation {
    pub in_recovery: bool,
    /// Primary: from the current WAL file name; standby: the WAL receiver's
    /// `received_tli`, else the last checkpoint's timeline.
    pub timeline: Option<u32>,
    pub system_identifier: Option<u64>,
    /// Primary: `pg_current_wal_lsn()`.
    pub current_lsn: Option<u64>,
    /// Standby: `pg_last_wal_receive_lsn()`.
    pub receive_lsn: Option<u64>,
    /// Standby: `pg_last_wal_replay_lsn()`.
    pub replay_lsn: Option<u64>,
    /// Standby: seconds since the last replayed transaction; 0 when all
    /// received WAL is replayed (an idle primary is not lag).
    pub lag_seconds: Option<f64>,
    /// Standby: `pg_stat_wal_receiver.status`, `None` without a receiver.
    pub wal_receiver: Option<String>,
}

pub type ProbeResult = Result<Observation, String>;

/// Every column in one round trip. Functions that fail during recovery
/// (`pg_current_wal_lsn`, `pg_walfile_name`) sit behind CASE, which does not
/// evaluate the branch it does not take for volatile functions.
const QUERY: &str = "SELECT r.rec, \
 (SELECT s.system_identifier FROM pg_catalog.pg_control_system() s), \
 CASE WHEN r.rec THEN NULL ELSE pg_catalog.substr(pg_catalog.pg_walfile_name(pg_catalog.pg_current_wal_lsn()), 1, 8) END, \
 CASE WHEN r.rec THEN NULL ELSE pg_catalog.pg_current_wal_lsn() END, \
 w.received_tli, w.status, \
 (SELECT c.timeline_id FROM pg_catalog.pg_control_checkpoint() c), \
 pg_catalog.pg_last_wal_receive_lsn(), pg_catalog.pg_last_wal_replay_lsn(), \
 pg_catalog.date_part('epoch', pg_catalog.now()), \
 pg_catalog.date_part('epoch', pg_catalog.pg_last_xact_replay_timestamp()) \
 FROM (SELECT pg_catalog.pg_is_in_recovery() AS rec) r \
 LEFT JOIN pg_catalog.pg_stat_wal_receiver w ON true";

pub struct Probe {
    params: ConnectParams,
    timeout: Duration,
    conn: Option<BackendConn>,
}

impl Probe {
    pub fn new(params: ConnectParams, timeout: Duration) -> Probe {
        Probe {
            params,
            timeout,
            conn: None,
        }
    }

    pub fn addr(&self) -> &str {
        &self.params.addr
    }

    pub async fn run(&mut self) -> ProbeResult {
        let result = tokio::time::timeout(self.timeout, self.observe()).await;
        let result =
            result.unwrap_or_else(|_| Err(format!("probe timed out after {:?}", self.timeout)));
        if result.is_err() {
            // A failed probe may have left the connection mid-reply.
            self.conn = None;
        }
        result
    }

    async fn conn(&mut self) -> Result<&mut BackendConn, String> {
        if self.conn.is_none() {
            let c = backend::connect(&self.params)
                .await
                .map_err(|e| e.to_string())?;
            self.conn = Some(c);
        }
        self.conn
            .as_mut()
            .ok_or_else(|| "no probe connection".to_string())
    }

    async fn observe(&mut self) -> ProbeResult {
        let conn = self.conn().await?;
        let rows = conn.simple_query(QUERY).await.map_err(|e| e.to_string())?;
        let row = rows.first().ok_or("probe query returned no row")?;
        parse_row(row)
    }

    /// `pg_promote(wait => true)` over the probe connection; true when the
    /// server reports it left recovery.
    pub async fn promote(&mut self, wait: Duration) -> Result<bool, String> {
        let secs = wait.as_secs().clamp(1, 3600);
        let sql = format!("SELECT pg_catalog.pg_promote(true, {secs})");
        let call = async {
            let conn = self.conn().await?;
            conn.simple_query(&sql).await.map_err(|e| e.to_string())
        };
        let rows = tokio::time::timeout(wait + Duration::from_secs(5), call)
            .await
            .map_err(|_| format!("pg_promote() gave no answer within {wait:?}"))
            .and_then(|r| r);
        if rows.is_err() {
            self.conn = None;
        }
        let rows = rows?;
        Ok(rows
            .first()
            .and_then(|r| r.first())
            .and_then(|v| v.as_deref())
            == Some("t"))
    }
}

/// Probes every backend concurrently.
pub async fn round(probes: &mut [Probe]) -> Vec<ProbeResult> {
    futures_util::future::join_all(probes.iter_mut().map(|p| p.run())).await
}

fn parse_row(row: &[Option<String>]) -> ProbeResult {
    let col = |i: usize| row.get(i).and_then(|v| v.as_deref());
    let in_recovery = match col(0) {
        Some("t") => true,
        Some("f") => false,
        other => return Err(format!("pg_is_in_recovery() returned {other:?}")),
    };
    let primary_tli = col(2).and_then(|h| u32::from_str_radix(h, 16).ok());
    let standby_tli = col(4).and_then(|v| v.parse().ok());
    let checkpoint_tli = col(6).and_then(|v| v.parse().ok());
    let receive_lsn = col(7).and_then(parse_lsn);
    let replay_lsn = col(8).and_then(parse_lsn);
    let now: Option<f64> = col(9).and_then(|v| v.parse().ok());
    let replayed_at: Option<f64> = col(10).and_then(|v| v.parse().ok());
    let lag_seconds = if !in_recovery {
        None
    } else if receive_lsn.is_some() && receive_lsn <= replay_lsn {
        Some(0.0)
    } else {
        match (now, replayed_at) {
            (Some(n), Some(t)) => Some((n - t).max(0.0)),
            _ => None,
        }
    };
    Ok(Observation {
        in_recovery,
        timeline: if in_recovery {
            standby_tli.or(checkpoint_tli)
        } else {
            primary_tli.or(checkpoint_tli)
        },
        system_identifier: col(1).and_then(|v| v.parse().ok()),
        current_lsn: col(3).and_then(parse_lsn),
        receive_lsn,
        replay_lsn,
        lag_seconds,
        wal_receiver: col(5).map(str::to_owned),
    })
}

/// `"16/B374D848"` → the 64-bit position.
pub fn parse_lsn(s: &str) -> Option<u64> {
    let (hi, lo) = s.split_once('/')?;
    let hi = u64::from_str_radix(hi, 16).ok()?;
    let lo = u64::from_str_radix(lo, 16).ok()?;
    (hi <= u32::MAX as u64 && lo <= u32::MAX as u64).then_some((hi << 32) | lo)
}

/// The 64-bit position as PostgreSQL writes it.
pub fn format_lsn(lsn: u64) -> String {
    format!("{:X}/{:X}", lsn >> 32, lsn & 0xFFFF_FFFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(cols: &[Option<&str>]) -> Vec<Option<String>> {
        cols.iter().map(|c| c.map(str::to_owned)).collect()
    }

    #[test]
    fn lsn_round_trips() {
        assert_eq!(parse_lsn("0/3000148"), Some(0x3000148));
        assert_eq!(parse_lsn("16/B374D848"), Some((0x16 << 32) | 0xB374D848));
        assert_eq!(format_lsn(0x16_B374_D848), "16/B374D848");
        for bad in ["", "0", "x/1", "1/", "100000000/0"] {
            assert_eq!(parse_lsn(bad), None, "{bad}");
        }
    }

    #[test]
    fn primary_row() {
        let o = parse_row(&row(&[
            Some("f"),
            Some("7300000000000000001"),
            Some("00000002"),
            Some("0/5000060"),
            None,
            None,
            Some("1"),
            None,
            None,
            Some("1700000000.5"),
            None,
        ]))
        .unwrap();
        assert!(!o.in_recovery);
        assert_eq!(o.timeline, Some(2), "WAL file name wins over checkpoint");
        assert_eq!(o.system_identifier, Some(7300000000000000001));
        assert_eq!(o.current_lsn, Some(0x5000060));
        assert_eq!(o.lag_seconds, None);
    }

    #[test]
    fn standby_rows() {
        let streaming = [
            Some("t"),
            Some("1"),
            None,
            None,
            Some("3"),
            Some("streaming"),
            Some("2"),
            Some("0/6000000"),
            Some("0/5000000"),
            Some("1000.0"),
            Some("990.5"),
        ];
        let o = parse_row(&row(&streaming)).unwrap();
        assert_eq!(o.timeline, Some(3), "received_tli wins");
        assert_eq!(o.wal_receiver.as_deref(), Some("streaming"));
        assert_eq!(o.lag_seconds, Some(9.5));
        let mut caught_up = streaming;
        caught_up[8] = Some("0/6000000");
        assert_eq!(parse_row(&row(&caught_up)).unwrap().lag_seconds, Some(0.0));
        let mut no_receiver = streaming;
        no_receiver[4] = None;
        no_receiver[5] = None;
        let o = parse_row(&row(&no_receiver)).unwrap();
        assert_eq!(o.timeline, Some(2), "falls back to the checkpoint");
        assert_eq!(o.wal_receiver, None);
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(parse_row(&row(&[None])).is_err());
        assert!(parse_row(&row(&[Some("maybe")])).is_err());
    }
}
