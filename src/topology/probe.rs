//! Health probes: one dedicated connection per backend, `pg_catalog`-qualified
//! queries (a hostile `search_path` cannot redirect them), each bounded by the
//! probe timeout.

use std::time::Duration;

use crate::backend::{self, BackendConn, ConnectParams};

/// What one probe learned about a backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub in_recovery: bool,
}

pub type ProbeResult = Result<Observation, String>;

const QUERY: &str = "SELECT pg_catalog.pg_is_in_recovery()";

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

    async fn observe(&mut self) -> ProbeResult {
        let conn = match &mut self.conn {
            Some(c) => c,
            None => {
                let c = backend::connect(&self.params)
                    .await
                    .map_err(|e| e.to_string())?;
                self.conn.insert(c)
            }
        };
        let rows = conn.simple_query(QUERY).await.map_err(|e| e.to_string())?;
        let value = rows
            .first()
            .and_then(|r| r.first())
            .and_then(|v| v.as_deref())
            .ok_or("pg_is_in_recovery() returned no row")?;
        Ok(Observation {
            in_recovery: value == "t",
        })
    }
}

/// Probes every backend concurrently.
pub async fn round(probes: &mut [Probe]) -> Vec<ProbeResult> {
    futures_util::future::join_all(probes.iter_mut().map(|p| p.run())).await
}
