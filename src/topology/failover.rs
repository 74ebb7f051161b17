//! Automatic promotion (`[failover] auto_promote`): whether to promote a
//! replica now, decided by a pure function so every rule is table-tested.
//!
//! A replica is promoted only when all hold:
//! - the primary has been down (for this proxy) for `failover.timeout`;
//! - the replica to promote (highest received LSN) lost its WAL stream too:
//!   a second witness that the primary is gone, so a network split between
//!   this proxy and the primary alone never promotes;
//! - with `require_vip`, this proxy holds the VIP (the active one of a pair);
//! - no promotion was issued from that timeline before (never twice).

use std::net::IpAddr;
use std::time::Duration;

use super::{Role, Topology};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub auto_promote: bool,
    pub timeout: Duration,
    pub require_vip: bool,
}

/// What the task knows beyond the snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inputs {
    /// How long the primary has been down, if it is.
    pub primary_down_for: Option<Duration>,
    /// Whether the VIP is assigned to this host (checked only when required).
    pub vip_local: bool,
    /// Timeline a promotion was already issued from.
    pub promoted_from: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Nothing to decide: auto-promotion off, or a primary is up.
    Idle,
    /// A primary is missing but promotion must not happen (yet); why.
    Wait(String),
    /// Promote backend `backend`, which is on `timeline`; why.
    Promote {
        backend: usize,
        timeline: Option<u32>,
        reason: String,
    },
}

pub fn decide(t: &Topology, policy: &Policy, inputs: &Inputs) -> Decision {
    if !policy.auto_promote || t.primary.is_some() {
        return Decision::Idle;
    }
    let wait = |s: String| Decision::Wait(format!("not promoting: {s}"));
    if let Some(r) = &t.write_refusal {
        return wait(format!("writes are refused ({r})"));
    }
    let Some(lost) = t.backends.iter().find(|b| b.role == Role::Primary && !b.up) else {
        return wait("no primary was seen going down".into());
    };
    let Some(down_for) = inputs.primary_down_for else {
        return wait(format!("primary {} is not known to be down", lost.addr));
    };
    if down_for < policy.timeout {
        return wait(format!(
            "primary {} is down; waiting failover.timeout ({:?})",
            lost.addr, policy.timeout
        ));
    }
    if lost.timeline.is_some() && inputs.promoted_from == lost.timeline {
        return wait(format!(
            "a promotion from timeline {} was already issued; never twice",
            lost.timeline.unwrap_or(0)
        ));
    }
    let best = t
        .backends
        .iter()
        .enumerate()
        .filter(|(i, b)| t.readable(*i) && b.responsive)
        .max_by_key(|(i, b)| (b.receive_lsn.or(b.replay_lsn), std::cmp::Reverse(*i)));
    let Some((i, b)) = best else {
        return wait("no reachable replica to promote".into());
    };
    if b.wal_receiver.as_deref() == Some("streaming") {
        return wait(format!(
            "replica {} still streams from the primary, so only this proxy lost {} \
             (network split?)",
            b.addr, lost.addr
        ));
    }
    if policy.require_vip && !inputs.vip_local {
        return wait("failover.require_vip is set and this proxy does not hold the VIP".into());
    }
    Decision::Promote {
        backend: i,
        timeline: lost.timeline,
        reason: format!(
            "primary {} down for {:?} (failover.timeout {:?}); replica {} has the highest \
             received LSN and its WAL receiver lost the primary too ({})",
            lost.addr,
            down_for,
            policy.timeout,
            b.addr,
            b.wal_receiver.as_deref().unwrap_or("no receiver running")
        ),
    }
}

/// The VIP is assigned to this host when a socket can bind to it.
pub fn vip_is_local(vip: &str) -> bool {
    vip.parse::<IpAddr>()
        .is_ok_and(|ip| std::net::UdpSocket::bind((ip, 0)).is_ok())
}

#[cfg(test)]
mod tests {
    use super::super::BackendState;
    use super::*;

    const T: Duration = Duration::from_secs(10);

    fn policy() -> Policy {
        Policy {
            auto_promote: true,
            timeout: T,
            require_vip: false,
        }
    }

    fn inputs() -> Inputs {
        Inputs {
            primary_down_for: Some(T),
            vip_local: false,
            promoted_from: None,
        }
    }

    fn replica(lsn: u64, receiver: Option<&str>) -> BackendState {
        BackendState {
            role: Role::Replica,
            up: true,
            responsive: true,
            timeline: Some(1),
            receive_lsn: Some(lsn),
            wal_receiver: receiver.map(str::to_owned),
            ..BackendState::new(&format!("r{lsn}:5432"), 1)
        }
    }

    /// The primary (down, timeline 1) and two replicas that lost it.
    fn lost() -> Topology {
        let p = BackendState {
            role: Role::Primary,
            timeline: Some(1),
            ..BackendState::new("p:5432", 1)
        };
        Topology {
            backends: vec![p, replica(100, None), replica(200, Some("waiting"))],
            ..Topology::default()
        }
    }

    fn promotes(d: &Decision) -> Option<usize> {
        match d {
            Decision::Promote { backend, .. } => Some(*backend),
            _ => None,
        }
    }

    #[test]
    fn table() {
        type Tweak = fn(&mut Topology, &mut Policy, &mut Inputs);
        let cases: Vec<(&str, Tweak, Option<usize>)> = vec![
            ("highest received LSN wins", |_, _, _| {}, Some(2)),
            ("off by default", |_, p, _| p.auto_promote = false, None),
            (
                "not down long enough",
                |_, _, i| i.primary_down_for = Some(T / 2),
                None,
            ),
            (
                "best replica still streams",
                |t, _, _| t.backends[2].wal_receiver = Some("streaming".into()),
                None,
            ),
            (
                "VIP required, not held",
                |_, p, _| p.require_vip = true,
                None,
            ),
            (
                "VIP required and held",
                |_, p, i| {
                    p.require_vip = true;
                    i.vip_local = true;
                },
                Some(2),
            ),
            (
                "already promoted from timeline 1",
                |_, _, i| i.promoted_from = Some(1),
                None,
            ),
            (
                "promoted from an older timeline",
                |_, _, i| i.promoted_from = Some(0),
                Some(2),
            ),
            (
                "primary up",
                |t, _, _| {
                    t.backends[0].up = true;
                    t.primary = Some(0);
                },
                None,
            ),
            (
                "ambiguous",
                |t, _, _| t.write_refusal = Some("two".into()),
                None,
            ),
            (
                "no replica reachable",
                |t, _, _| {
                    t.backends[1].up = false;
                    t.backends[2].responsive = false;
                },
                None,
            ),
            (
                "fenced replica skipped",
                |t, _, _| t.backends[2].fenced = Some("x".into()),
                Some(1),
            ),
            (
                "never saw a primary",
                |t, _, _| t.backends[0].role = Role::Unknown,
                None,
            ),
        ];
        for (name, tweak, want) in cases {
            let (mut t, mut p, mut i) = (lost(), policy(), inputs());
            tweak(&mut t, &mut p, &mut i);
            let d = decide(&t, &p, &i);
            assert_eq!(promotes(&d), want, "{name}: {d:?}");
        }
    }

    #[test]
    fn reasons_are_given() {
        let mut t = lost();
        t.backends[2].wal_receiver = Some("streaming".into());
        match decide(&t, &policy(), &inputs()) {
            Decision::Wait(r) => assert!(r.contains("network split"), "{r}"),
            d => panic!("{d:?}"),
        }
        match decide(&lost(), &policy(), &inputs()) {
            Decision::Promote {
                reason, timeline, ..
            } => {
                assert!(reason.contains("r200:5432"), "{reason}");
                assert_eq!(timeline, Some(1));
            }
            d => panic!("{d:?}"),
        }
    }

    #[test]
    fn vip_check_binds() {
        assert!(vip_is_local("127.0.0.1"));
        assert!(!vip_is_local("192.0.2.77"));
        assert!(!vip_is_local(""));
    }
}
