//! Every metric pgsplit exports, in one [`Metrics`] built by [`crate::start`]
//! and passed down (no global registry). Counters and histograms move on the
//! hot path through the small methods below; gauges that describe state
//! owned elsewhere (topology, pools) are refreshed from snapshots at scrape
//! time by [`Metrics::refresh`], so they can never drift from the truth.
//!
//! Labels are bounded: enums, or backend addresses from the config.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::histogram::Histogram;
use crate::pool::PoolStatus;
use crate::topology::{Role, Topology};

/// Where a statement was sent.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum Target {
    primary,
    replica,
}

/// Why it was sent there (the routing contract's rules, by name).
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum Reason {
    write,
    read,
    in_transaction,
    read_only_tx,
    hint,
    volatile_function,
    unparseable,
    pinned,
    lag,
    freshness,
    no_replica,
    session,
}

impl Reason {
    /// Every reason, in declaration order (`reason as usize` indexes it).
    const ALL: [Reason; 12] = [
        Reason::write,
        Reason::read,
        Reason::in_transaction,
        Reason::read_only_tx,
        Reason::hint,
        Reason::volatile_function,
        Reason::unparseable,
        Reason::pinned,
        Reason::lag,
        Reason::freshness,
        Reason::no_replica,
        Reason::session,
    ];
}

/// Why a client connection was turned away.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum Refusal {
    too_many,
    auth,
    startup,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    target: Target,
    reason: Reason,
}

/// Why a session was pinned to one backend connection.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum PinReason {
    temp_table,
    listen,
    advisory_lock,
    hold_cursor,
    untracked_setting,
}

impl From<crate::classify::Pin> for PinReason {
    fn from(p: crate::classify::Pin) -> Self {
        use crate::classify::Pin;
        match p {
            Pin::TempTable => PinReason::temp_table,
            Pin::Listen => PinReason::listen,
            Pin::AdvisoryLock => PinReason::advisory_lock,
            Pin::HoldCursor => PinReason::hold_cursor,
            Pin::Setting => PinReason::untracked_setting,
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PinLabels {
    reason: PinReason,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusalLabels {
    reason: Refusal,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BackendLabels {
    backend: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RoleLabels {
    backend: String,
    role: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

/// The registry and every metric in it.
pub struct Metrics {
    registry: Registry,
    clients_active: Gauge,
    clients_total: Counter,
    clients_refused: Family<RefusalLabels, Counter>,
    clients_waiting: Gauge,
    routed: Family<RouteLabels, Counter>,
    /// The family's counters, resolved once: routing a statement is an
    /// atomic add, not a label hash under the family's lock.
    routed_by: [[Counter; Reason::ALL.len()]; 2],
    pinned: Family<PinLabels, Counter>,
    statement_seconds: Histogram,
    checkout_wait_seconds: Histogram,
    bytes_in: Counter,
    bytes_out: Counter,
    failovers: Counter,
    promotions: Counter,
    classify_hits: Counter,
    classify_misses: Counter,
    auto_prepared: Counter,
    auto_reused: Counter,
    backend_up: Family<BackendLabels, Gauge>,
    backend_role: Family<RoleLabels, Gauge>,
    backend_fenced: Family<BackendLabels, Gauge>,
    backend_timeline: Family<BackendLabels, Gauge>,
    lag_bytes: Family<BackendLabels, Gauge>,
    lag_seconds: Family<BackendLabels, FloatGauge>,
    has_primary: Gauge,
    pool_size: Family<BackendLabels, Gauge>,
    pool_idle: Family<BackendLabels, Gauge>,
    pool_in_use: Family<BackendLabels, Gauge>,
    pool_waiting: Family<BackendLabels, Gauge>,
    pool_max: Family<BackendLabels, Gauge>,
    draining: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut r = Registry::with_prefix("pgsplit");
        let m = Metrics {
            clients_active: Gauge::default(),
            clients_total: Counter::default(),
            clients_refused: Family::default(),
            clients_waiting: Gauge::default(),
            routed: Family::default(),
            routed_by: Default::default(),
            pinned: Family::default(),
            // 100 µs .. ~100 s
            statement_seconds: Histogram::exponential(Duration::from_micros(100), 4, 11),
            // 10 µs .. ~10 s
            checkout_wait_seconds: Histogram::exponential(Duration::from_micros(10), 4, 11),
            bytes_in: Counter::default(),
            bytes_out: Counter::default(),
            failovers: Counter::default(),
            promotions: Counter::default(),
            classify_hits: Counter::default(),
            classify_misses: Counter::default(),
            auto_prepared: Counter::default(),
            auto_reused: Counter::default(),
            backend_up: Family::default(),
            backend_role: Family::default(),
            backend_fenced: Family::default(),
            backend_timeline: Family::default(),
            lag_bytes: Family::default(),
            lag_seconds: Family::default(),
            has_primary: Gauge::default(),
            pool_size: Family::default(),
            pool_idle: Family::default(),
            pool_in_use: Family::default(),
            pool_waiting: Family::default(),
            pool_max: Family::default(),
            draining: Gauge::default(),
            registry: Registry::default(),
        };
        let h = |s: &str| s.to_owned();
        r.register(
            "client_connections_active",
            h("Client sessions open now"),
            m.clients_active.clone(),
        );
        r.register(
            "client_connections",
            h("Client connections accepted"),
            m.clients_total.clone(),
        );
        r.register(
            "client_connections_refused",
            h("Client connections refused, by reason (too_many, auth, startup)"),
            m.clients_refused.clone(),
        );
        r.register(
            "clients_waiting",
            h("Clients waiting for a backend connection from a pool"),
            m.clients_waiting.clone(),
        );
        r.register(
            "statements_routed",
            h("Statements (or batches) routed, by target and reason"),
            m.routed.clone(),
        );
        r.register(
            "pinned_sessions",
            h("Sessions pinned to one backend connection, by reason"),
            m.pinned.clone(),
        );
        r.register(
            "statement_duration_seconds",
            h("Time from sending a request to its ReadyForQuery"),
            m.statement_seconds.clone(),
        );
        r.register(
            "pool_checkout_wait_seconds",
            h("Time a client waited for a pooled backend connection"),
            m.checkout_wait_seconds.clone(),
        );
        r.register(
            "client_bytes_received",
            h("Bytes read from clients"),
            m.bytes_in.clone(),
        );
        r.register(
            "client_bytes_sent",
            h("Bytes written to clients"),
            m.bytes_out.clone(),
        );
        r.register(
            "failovers",
            h("Times the primary moved to another backend"),
            m.failovers.clone(),
        );
        r.register(
            "promotions",
            h("Replicas promoted by pgsplit"),
            m.promotions.clone(),
        );
        r.register(
            "classify_cache_hits",
            h("Classification cache hits"),
            m.classify_hits.clone(),
        );
        r.register(
            "classify_cache_misses",
            h("Classification cache misses"),
            m.classify_misses.clone(),
        );
        r.register(
            "auto_prepared",
            h("Unnamed statements prepared on a server connection to be kept ([pool] auto_prepare)"),
            m.auto_prepared.clone(),
        );
        r.register(
            "auto_prepare_reused",
            h("Unnamed statements answered by one kept on the server connection (not parsed again)"),
            m.auto_reused.clone(),
        );
        r.register(
            "backend_up",
            h("1 when the last probe of the backend succeeded"),
            m.backend_up.clone(),
        );
        r.register(
            "backend_role",
            h("1 for the backend's current role (primary, replica, unknown)"),
            m.backend_role.clone(),
        );
        r.register(
            "backend_fenced",
            h("1 when the backend is fenced (stale primary)"),
            m.backend_fenced.clone(),
        );
        r.register(
            "backend_timeline",
            h("Timeline the backend is on"),
            m.backend_timeline.clone(),
        );
        r.register(
            "replication_lag_bytes",
            h("Replay lag of a replica behind the primary, in bytes of WAL"),
            m.lag_bytes.clone(),
        );
        r.register(
            "replication_lag_seconds",
            h("Replay lag of a replica, in seconds"),
            m.lag_seconds.clone(),
        );
        r.register(
            "primary_known",
            h("1 while a writable primary is known"),
            m.has_primary.clone(),
        );
        r.register(
            "pool_connections",
            h("Backend connections in the pools, per backend"),
            m.pool_size.clone(),
        );
        r.register(
            "pool_connections_idle",
            h("Idle pooled backend connections, per backend"),
            m.pool_idle.clone(),
        );
        r.register(
            "pool_connections_in_use",
            h("Backend connections checked out by sessions, per backend"),
            m.pool_in_use.clone(),
        );
        r.register(
            "pool_waiting",
            h("Checkouts waiting for a connection, per backend"),
            m.pool_waiting.clone(),
        );
        r.register(
            "pool_max_connections",
            h("Pool size limit summed over the backend's pools"),
            m.pool_max.clone(),
        );
        r.register(
            "draining",
            h("1 once a graceful shutdown has begun"),
            m.draining.clone(),
        );
        let route = |target| {
            Reason::ALL.map(|reason| {
                m.routed
                    .get_or_create(&RouteLabels { target, reason })
                    .clone()
            })
        };
        let routed_by = [route(Target::primary), route(Target::replica)];
        Metrics {
            registry: r,
            routed_by,
            ..m
        }
    }

    /// A client connection was accepted; the guard marks it active until dropped.
    pub fn client_accepted(&self) -> ActiveClient {
        self.clients_total.inc();
        self.clients_active.inc();
        ActiveClient(self.clients_active.clone())
    }

    pub fn client_refused(&self, why: Refusal) {
        self.clients_refused
            .get_or_create(&RefusalLabels { reason: why })
            .inc();
    }

    /// A statement or batch was routed.
    pub fn routed(&self, target: Target, reason: Reason) {
        self.routed_by[target as usize][reason as usize].inc();
    }

    /// A session became pinned to its primary connection.
    pub fn pinned(&self, pin: crate::classify::Pin) {
        self.pinned
            .get_or_create(&PinLabels { reason: pin.into() })
            .inc();
    }

    /// A request was answered (its ReadyForQuery relayed).
    pub fn statement_done(&self, d: Duration) {
        self.statement_seconds.observe(d);
    }

    /// A pool checkout finished (successfully or not) after `d`.
    pub fn checkout_wait(&self, d: Duration) {
        self.checkout_wait_seconds.observe(d);
    }

    /// A checkout is waiting; the guard ends the wait when dropped.
    pub fn checkout_waiting(&self) -> Waiting<'_> {
        self.clients_waiting.inc();
        Waiting(self)
    }

    pub fn bytes_in(&self, n: usize) {
        self.bytes_in.inc_by(n as u64);
    }

    pub fn bytes_out(&self, n: usize) {
        self.bytes_out.inc_by(n as u64);
    }

    pub fn failover(&self) {
        self.failovers.inc();
    }

    pub fn promotion(&self) {
        self.promotions.inc();
    }

    /// What one batch did with its unnamed statements (`auto_prepare`).
    pub fn auto_prepare(&self, prepared: u64, reused: u64) {
        if prepared > 0 {
            self.auto_prepared.inc_by(prepared);
        }
        if reused > 0 {
            self.auto_reused.inc_by(reused);
        }
    }

    pub fn classify_cache(&self, hit: bool) {
        if hit {
            self.classify_hits.inc();
        } else {
            self.classify_misses.inc();
        }
    }

    pub fn set_draining(&self) {
        self.draining.set(1);
    }

    /// Brings the state gauges in line with the current snapshots; families
    /// are rebuilt so a backend removed by a reload disappears.
    pub fn refresh(&self, topology: &Topology, pools: &[PoolStatus]) {
        for f in [
            &self.backend_up,
            &self.backend_fenced,
            &self.backend_timeline,
            &self.lag_bytes,
        ] {
            f.clear();
        }
        self.backend_role.clear();
        self.lag_seconds.clear();
        for b in &topology.backends {
            let l = BackendLabels {
                backend: b.addr.to_string(),
            };
            self.backend_up.get_or_create(&l).set(i64::from(b.up));
            let role = match b.role {
                Role::Primary => "primary",
                Role::Replica => "replica",
                Role::StalePrimary => "stale_primary",
                Role::Unknown => "unknown",
            };
            for r in ["primary", "replica", "stale_primary", "unknown"] {
                let rl = RoleLabels {
                    backend: l.backend.clone(),
                    role: r.to_owned(),
                };
                self.backend_role
                    .get_or_create(&rl)
                    .set(i64::from(r == role));
            }
            self.backend_fenced
                .get_or_create(&l)
                .set(i64::from(b.fenced.is_some()));
            if let Some(tl) = b.timeline {
                self.backend_timeline.get_or_create(&l).set(i64::from(tl));
            }
            if b.role == Role::Replica {
                if let Some(bytes) = b.lag_bytes {
                    self.lag_bytes.get_or_create(&l).set(bytes as i64);
                }
                if let Some(secs) = b.lag_seconds {
                    self.lag_seconds.get_or_create(&l).set(secs);
                }
            }
        }
        self.has_primary.set(i64::from(topology.primary.is_some()));
        for f in [
            &self.pool_size,
            &self.pool_idle,
            &self.pool_in_use,
            &self.pool_waiting,
            &self.pool_max,
        ] {
            f.clear();
        }
        for p in pools {
            let l = BackendLabels {
                backend: p.backend.to_string(),
            };
            self.pool_size.get_or_create(&l).inc_by(p.size as i64);
            self.pool_idle.get_or_create(&l).inc_by(p.idle as i64);
            self.pool_in_use
                .get_or_create(&l)
                .inc_by(p.size.saturating_sub(p.idle) as i64);
            self.pool_waiting.get_or_create(&l).inc_by(p.waiting as i64);
            self.pool_max.get_or_create(&l).inc_by(p.max as i64);
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "cannot encode metrics");
        }
        out
    }
}

/// An open client session, counted in `pgsplit_client_connections_active`.
pub struct ActiveClient(Gauge);

impl Drop for ActiveClient {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// A checkout in progress, counted in `pgsplit_clients_waiting`.
pub struct Waiting<'a>(&'a Metrics);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.clients_waiting.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_label_is_its_own_counter() {
        for (i, r) in Reason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i, "Reason::ALL is out of order at {r:?}");
        }
        let m = Metrics::new();
        m.routed(Target::primary, Reason::freshness);
        m.routed(Target::primary, Reason::freshness);
        let text = m.encode();
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("pgsplit_statements_routed_total{") && !l.ends_with(" 0"))
            .collect();
        assert_eq!(
            lines,
            ["pgsplit_statements_routed_total{target=\"primary\",reason=\"freshness\"} 2"]
        );
    }

    #[test]
    fn names_are_prefixed_and_counters_move() {
        let m = Metrics::new();
        m.routed(Target::replica, Reason::read);
        m.bytes_in(10);
        {
            let _c = m.client_accepted();
            assert!(m.encode().contains("pgsplit_client_connections_active 1"));
        }
        let text = m.encode();
        assert!(
            text.contains("pgsplit_statements_routed_total{target=\"replica\",reason=\"read\"} 1"),
            "{text}"
        );
        assert!(text.contains("pgsplit_client_bytes_received_total 10"));
        assert!(text
            .contains("pgsplit_statements_routed_total{target=\"primary\",reason=\"session\"} 0"));
        assert!(text.contains("pgsplit_client_connections_active 0"));
        assert!(text.ends_with("# EOF\n"));
    }
}
