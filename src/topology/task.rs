//! The topology task: probes, computes the next snapshot, publishes it, and
//! acts on what changed (drain pools, log fencing with the rejoin steps,
//! remember timelines, promote when allowed).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::failover::{self, Decision};
use super::probe::{self, Probe};
use super::state::Persisted;
use super::transition::{self, Policy};
use super::{BackendState, Topology};
use crate::auth::BackendAuth;
use crate::backend::ConnectParams;
use crate::config::Config;
use crate::pool::Pools;
use crate::tls::backend::BackendTls;

/// Probe interval while no primary is known or the primary missed a probe.
const FAST: Duration = Duration::from_millis(100);
/// How long `pg_promote` may take.
const PROMOTE_WAIT: Duration = Duration::from_secs(30);

/// One probe per configured backend, with the `[health]` credentials.
pub fn probes_for(config: &Config) -> Vec<Probe> {
    let (user, password) = config.health_credentials();
    // One holder for every probe: servers sharing a verifier share its keys.
    let auth = BackendAuth::password(&password);
    config
        .backends
        .iter()
        .map(|b| {
            let params = ConnectParams {
                addr: Arc::from(b.addr.as_str()),
                user: user.clone(),
                auth: auth.clone(),
                database: config.health.database.clone(),
                startup: vec![("application_name".into(), "pgsplit-health".into())],
                timeout: config.health.timeout,
                tls: Some(Arc::new(BackendTls::new(
                    &b.addr,
                    &config.backend_tls_for(b),
                ))),
            };
            Probe::new(params, config.health.timeout)
        })
        .collect()
}

fn load_state(config: &Config) -> Persisted {
    let Some(path) = &config.health.state_file else {
        return Persisted::default();
    };
    Persisted::load(path).unwrap_or_else(|e| {
        tracing::error!(error = %e, "cannot load the state file; starting without remembered timelines");
        Persisted::default()
    })
}

fn policy(config: &Config) -> Policy {
    Policy {
        failures: config.health.failures,
        successes: config.health.successes,
        max_lag_bytes: config.routing.max_replica_lag_bytes,
        max_lag_seconds: config.routing.max_replica_lag.map(|d| d.as_secs_f64()),
    }
}

/// One probe round from scratch (start-up, `pgsplit status`).
pub async fn discover(config: &Config, probes: &mut [Probe]) -> Topology {
    let results = probe::round(probes).await;
    let persisted = load_state(config);
    transition::next(
        &Topology::initial(config),
        &results,
        &policy(config),
        &persisted,
    )
}

struct Task {
    config: Arc<Config>,
    probes: Vec<Probe>,
    pools: Arc<Pools>,
    persisted: Persisted,
    /// When the primary was first seen down (for `failover.timeout`).
    lost_since: Option<Instant>,
    /// Last failover reason logged, so a waiting decision is logged once.
    last_reason: Option<String>,
}

/// Runs until `shutdown`: probe every `interval` (100 ms while no primary
/// is known or the primary missed a probe), publish changes.
pub async fn run(
    mut configs: watch::Receiver<Arc<Config>>,
    probes: Vec<Probe>,
    tx: watch::Sender<Arc<Topology>>,
    pools: Arc<Pools>,
    shutdown: CancellationToken,
) {
    let config = configs.borrow_and_update().clone();
    let mut task = Task {
        persisted: load_state(&config),
        config,
        probes,
        pools,
        lost_since: None,
        last_reason: None,
    };
    let first = tx.borrow().clone();
    task.report(&Topology::default(), &first);
    task.remember(&first);
    loop {
        let prev = tx.borrow().clone();
        let suspect = prev.primary().is_some_and(|p| p.failures > 0);
        let wait = if prev.primary.is_some() && !suspect {
            task.config.health.interval
        } else {
            FAST.min(task.config.health.interval)
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
            Ok(()) = configs.changed() => {
                // A reload: probe the new backend list from now on, state
                // carried over by address.
                task.config = configs.borrow_and_update().clone();
                task.probes = probes_for(&task.config);
                tx.send_replace(Arc::new(super::reconfig::rebase(&prev, &task.config)));
                continue;
            }
        }
        let results = probe::round(&mut task.probes).await;
        let next = transition::next(&prev, &results, &policy(&task.config), &task.persisted);
        task.report(&prev, &next);
        task.remember(&next);
        if next != *prev {
            tx.send_replace(Arc::new(next.clone()));
        }
        task.failover(&next).await;
    }
}

impl Task {
    /// Logs what changed and closes pooled connections that must not be used.
    fn report(&self, prev: &Topology, next: &Topology) {
        let none = BackendState::default();
        for (i, new) in next.backends.iter().enumerate() {
            let old = prev.backends.get(i).unwrap_or(&none);
            if old.up && !new.up {
                tracing::warn!(backend = %new.addr, error = ?new.error, "backend down");
                self.pools.drain_backend(&new.addr);
            } else if !old.up && new.up {
                tracing::info!(backend = %new.addr, role = ?new.role, "backend up");
            } else if old.role != new.role {
                tracing::info!(backend = %new.addr, role = ?new.role, "backend role changed");
            }
            match (&old.fenced, &new.fenced) {
                (None, Some(why)) => {
                    if new.role == super::Role::StalePrimary {
                        tracing::error!(
                            backend = %new.addr,
                            "backend fenced, no reads or writes go to it: {why}. {}",
                            rejoin_steps(new, next.primary())
                        );
                    } else {
                        tracing::warn!(backend = %new.addr, "backend fenced from reads: {why}");
                    }
                    self.pools.drain_backend(&new.addr);
                }
                (Some(_), None) => tracing::info!(backend = %new.addr, "backend no longer fenced"),
                _ => {}
            }
        }
        if prev.primary().map(|b| &b.addr) != next.primary().map(|b| &b.addr) {
            tracing::warn!(
                primary = ?next.primary().map(|b| b.addr.to_string()),
                timeline = ?next.timeline,
                "primary changed"
            );
            if let Some(old) = prev.primary() {
                self.pools.drain_backend(&old.addr);
            }
        }
        match (&prev.write_refusal, &next.write_refusal) {
            (_, Some(r)) if prev.write_refusal.as_ref() != Some(r) => {
                tracing::error!("refusing writes (fail closed): {r}")
            }
            (Some(_), None) => tracing::info!("writes no longer refused"),
            _ => {}
        }
    }

    /// Keeps the highest timeline seen, in the state file when there is one.
    fn remember(&mut self, t: &Topology) {
        if let Some(p) = self.persisted.record(t) {
            self.persisted = p;
            self.save();
        }
    }

    fn save(&self) {
        if let Some(path) = &self.config.health.state_file {
            if let Err(e) = self.persisted.save(path) {
                tracing::error!(error = %e, "cannot write the state file");
            }
        }
    }

    async fn failover(&mut self, t: &Topology) {
        let lost = t.primary.is_none()
            && t.backends
                .iter()
                .any(|b| b.role == super::Role::Primary && !b.up);
        if !lost {
            self.lost_since = None;
        } else if self.lost_since.is_none() {
            self.lost_since = Some(Instant::now());
        }
        let cfg = &self.config.failover;
        let policy = failover::Policy {
            auto_promote: cfg.auto_promote,
            timeout: cfg.timeout,
            require_vip: cfg.require_vip,
        };
        let cluster = t.backends.iter().find_map(|b| b.system_identifier);
        let inputs = failover::Inputs {
            primary_down_for: self.lost_since.map(|s| s.elapsed()),
            vip_local: cfg.require_vip && failover::vip_is_local(&cfg.vip),
            promoted_from: cluster.and_then(|id| self.persisted.promoted_from.get(&id).copied()),
        };
        match failover::decide(t, &policy, &inputs) {
            Decision::Idle => self.last_reason = None,
            Decision::Wait(reason) => {
                if self.last_reason.as_ref() != Some(&reason) {
                    tracing::warn!("failover: {reason}");
                    self.last_reason = Some(reason);
                }
            }
            Decision::Promote {
                backend,
                timeline,
                reason,
            } => {
                let addr = t.backends[backend].addr.clone();
                tracing::warn!(backend = %addr, "failover: promoting: {reason}");
                // Remembered before the call: never twice for one timeline,
                // even if this proxy restarts meanwhile.
                if let (Some(id), Some(tl)) = (cluster, timeline) {
                    self.persisted.promoted_from.insert(id, tl);
                    self.save();
                }
                self.last_reason = None;
                match self.probes[backend].promote(PROMOTE_WAIT).await {
                    Ok(true) => tracing::warn!(backend = %addr, "failover: promoted"),
                    Ok(false) => tracing::error!(
                        backend = %addr,
                        "failover: pg_promote() returned false (not promoted within {PROMOTE_WAIT:?})"
                    ),
                    Err(e) => {
                        tracing::error!(backend = %addr, error = %e, "failover: pg_promote() failed")
                    }
                }
            }
        }
    }
}

/// The commands that turn a stale primary into a replica of `primary`.
fn rejoin_steps(stale: &BackendState, primary: Option<&BackendState>) -> String {
    let target = primary.map_or("NEWPRIMARY:5432".to_string(), |p| p.addr.to_string());
    let (host, port) = target.rsplit_once(':').unwrap_or((&target, "5432"));
    format!(
        "To rejoin {} as a replica of {target}, on its host: stop it (pg_ctl stop -D DATADIR), then \
         `pg_rewind --target-pgdata=DATADIR --source-server='host={host} port={port} user=postgres dbname=postgres'`, \
         `touch DATADIR/standby.signal`, add `primary_conninfo = 'host={host} port={port} user=postgres'` \
         to DATADIR/postgresql.auto.conf and start it; or run \
         `pgsplit rejoin --data-dir DATADIR --primary {target} --user postgres`",
        stale.addr
    )
}
