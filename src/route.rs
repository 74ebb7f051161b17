//! The routing decision: a pure function of the statement's class, the
//! session's state and what the topology offers. No I/O, no locks.
//!
//! Order of the rules (DESIGN.md, routing contract):
//! 1. inside a transaction: the transaction's backend;
//! 2. a hint (`/* pgsplit:primary */`, `/* pgsplit:replica */`) wins;
//! 3. a pinned session stays on the primary;
//! 4. `BEGIN … READ ONLY` (or BEGIN in a session whose transactions default
//!    to read only) → a replica, any other BEGIN → the primary;
//! 5. writes → the primary; reads → a replica, else the primary.

use crate::classify::{Class, Classification, Hint, SessionCmd, TxCmd, WriteReason};
use crate::topology::Topology;

/// Which backend role a request goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    Primary,
    Replica,
}

/// Why: a bounded set, used as a metrics label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    Write,
    Read,
    InTransaction,
    ReadOnlyTx,
    Hint,
    VolatileFunction,
    Unparseable,
    Pinned,
    NoReplica,
    /// Every replica is beyond the lag limits.
    Lag,
    /// No replica has replayed the session's last write yet.
    Freshness,
    /// Session commands and transaction control outside a transaction.
    Session,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Write => "write",
            Reason::Read => "read",
            Reason::InTransaction => "in_transaction",
            Reason::ReadOnlyTx => "read_only_tx",
            Reason::Hint => "hint",
            Reason::VolatileFunction => "volatile_function",
            Reason::Unparseable => "unparseable",
            Reason::Pinned => "pinned",
            Reason::NoReplica => "no_replica",
            Reason::Lag => "lag",
            Reason::Freshness => "freshness",
            Reason::Session => "session",
        }
    }
}

/// What the router needs to know about the session.
#[derive(Debug, Clone, Copy, Default)]
pub struct SessionView {
    /// The backend of the open transaction, if one is open.
    pub transaction: Option<Target>,
    /// Pinned to the primary (temp table, LISTEN, advisory lock, WITH HOLD).
    pub pinned: bool,
    /// `default_transaction_read_only` is on for this session.
    pub read_only_default: bool,
    /// A replica is usable for this session's reads right now.
    pub replica_usable: bool,
    /// Some replica is up but beyond the lag limits.
    pub replicas_lagging: bool,
    /// Where the session's neutral requests (Sync alone, session commands)
    /// go: the backend it used last.
    pub last: Option<Target>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub target: Target,
    pub reason: Reason,
}

const fn to(target: Target, reason: Reason) -> Decision {
    Decision { target, reason }
}

/// Routes one classified statement.
pub fn route(c: &Classification, s: &SessionView) -> Decision {
    if let Some(t) = s.transaction {
        return to(t, Reason::InTransaction);
    }
    match c.hint {
        Some(Hint::Primary) => return to(Target::Primary, Reason::Hint),
        Some(Hint::Replica) if s.replica_usable => return to(Target::Replica, Reason::Hint),
        _ => {}
    }
    if s.pinned {
        return to(Target::Primary, Reason::Pinned);
    }
    let replica_or_primary = |why| {
        if s.replica_usable {
            to(Target::Replica, why)
        } else if s.replicas_lagging {
            to(Target::Primary, Reason::Lag)
        } else {
            to(Target::Primary, Reason::NoReplica)
        }
    };
    match &c.class {
        Class::Read => replica_or_primary(Reason::Read),
        Class::Write(WriteReason::VolatileFunction | WriteReason::UnknownFunction) => {
            to(Target::Primary, Reason::VolatileFunction)
        }
        Class::Write(WriteReason::Unparseable) => to(Target::Primary, Reason::Unparseable),
        Class::Write(_) => to(Target::Primary, Reason::Write),
        Class::Transaction(TxCmd::Begin { read_only }) => {
            if read_only.unwrap_or(s.read_only_default) {
                replica_or_primary(Reason::ReadOnlyTx)
            } else {
                to(Target::Primary, Reason::Write)
            }
        }
        // SET etc.: where the session already is; tracked and replayed on
        // the other backend when it is used.
        Class::Session(SessionCmd::Prepare { .. }) | Class::Session(_) | Class::Transaction(_) => {
            to(s.last.unwrap_or(Target::Primary), Reason::Session)
        }
    }
}

/// Routes a batch of statements that must run on one backend: the primary
/// if any of them needs it.
pub fn route_all<'a>(
    statements: impl IntoIterator<Item = &'a Classification>,
    s: &SessionView,
) -> Option<Decision> {
    let mut out: Option<Decision> = None;
    for c in statements {
        let d = route(c, s);
        out = match out {
            None => Some(d),
            Some(prev) if prev.target == Target::Primary => Some(prev),
            Some(_) if d.target == Target::Primary => Some(d),
            // Both replica: a read-only transaction's reason tells more.
            Some(prev) if prev.reason == Reason::Session => Some(d),
            Some(prev) => Some(prev),
        };
    }
    out
}

/// Picks a readable replica by weight; `roll` is a random number.
pub fn pick_replica(t: &Topology, roll: u64) -> Option<usize> {
    let total: u64 = t.replicas().map(|i| u64::from(t.backends[i].weight)).sum();
    if total == 0 {
        return None;
    }
    let mut point = roll % total;
    for i in t.replicas() {
        let w = u64::from(t.backends[i].weight);
        if point < w {
            return Some(i);
        }
        point -= w;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::{Classification, Pin};
    use crate::topology::{BackendState, Role};

    fn c(class: Class) -> Classification {
        Classification::of(class)
    }

    fn hinted(class: Class, h: Hint) -> Classification {
        Classification {
            hint: Some(h),
            ..Classification::of(class)
        }
    }

    const FREE: SessionView = SessionView {
        transaction: None,
        pinned: false,
        read_only_default: false,
        replica_usable: true,
        replicas_lagging: false,
        last: None,
    };

    #[test]
    fn table() {
        use Target::*;
        let begin = |ro| Class::Transaction(TxCmd::Begin { read_only: ro });
        let set = Class::Session(SessionCmd::Set {
            name: "search_path".into(),
            value: "a".into(),
            local: false,
        });
        let no_replica = SessionView {
            replica_usable: false,
            ..FREE
        };
        let all_lagging = SessionView {
            replica_usable: false,
            replicas_lagging: true,
            ..FREE
        };
        let in_ro_tx = SessionView {
            transaction: Some(Replica),
            ..FREE
        };
        let in_tx = SessionView {
            transaction: Some(Primary),
            ..FREE
        };
        let pinned = SessionView {
            pinned: true,
            ..FREE
        };
        let ro_default = SessionView {
            read_only_default: true,
            ..FREE
        };
        let on_replica = SessionView {
            last: Some(Replica),
            ..FREE
        };
        let cases: Vec<(Classification, SessionView, Target, Reason)> = vec![
            (c(Class::Read), FREE, Replica, Reason::Read),
            (c(Class::Read), no_replica, Primary, Reason::NoReplica),
            (c(Class::Read), all_lagging, Primary, Reason::Lag),
            (
                c(Class::Write(WriteReason::Dml)),
                FREE,
                Primary,
                Reason::Write,
            ),
            (
                c(Class::Write(WriteReason::VolatileFunction)),
                FREE,
                Primary,
                Reason::VolatileFunction,
            ),
            (
                c(Class::Write(WriteReason::UnknownFunction)),
                FREE,
                Primary,
                Reason::VolatileFunction,
            ),
            (
                c(Class::Write(WriteReason::Unparseable)),
                FREE,
                Primary,
                Reason::Unparseable,
            ),
            (c(Class::Read), in_tx, Primary, Reason::InTransaction),
            (
                c(Class::Write(WriteReason::Dml)),
                in_ro_tx,
                Replica,
                Reason::InTransaction,
            ),
            (c(begin(Some(true))), FREE, Replica, Reason::ReadOnlyTx),
            (c(begin(Some(true))), no_replica, Primary, Reason::NoReplica),
            (c(begin(None)), FREE, Primary, Reason::Write),
            (c(begin(None)), ro_default, Replica, Reason::ReadOnlyTx),
            (c(begin(Some(false))), ro_default, Primary, Reason::Write),
            (c(Class::Read), pinned, Primary, Reason::Pinned),
            (c(begin(Some(true))), pinned, Primary, Reason::Pinned),
            (
                hinted(Class::Write(WriteReason::Dml), Hint::Replica),
                FREE,
                Replica,
                Reason::Hint,
            ),
            (
                hinted(Class::Read, Hint::Primary),
                FREE,
                Primary,
                Reason::Hint,
            ),
            (
                hinted(Class::Read, Hint::Primary),
                pinned,
                Primary,
                Reason::Hint,
            ),
            (
                hinted(Class::Read, Hint::Replica),
                no_replica,
                Primary,
                Reason::NoReplica,
            ),
            (
                hinted(Class::Read, Hint::Replica),
                in_tx,
                Primary,
                Reason::InTransaction,
            ),
            (c(set.clone()), FREE, Primary, Reason::Session),
            (c(set), on_replica, Replica, Reason::Session),
        ];
        for (cl, s, target, reason) in cases {
            assert_eq!(route(&cl, &s), to(target, reason), "{cl:?} / {s:?}");
        }
    }

    #[test]
    fn a_batch_goes_to_the_primary_if_any_statement_must() {
        let read = c(Class::Read);
        let write = c(Class::Write(WriteReason::Dml));
        let begin_ro = c(Class::Transaction(TxCmd::Begin {
            read_only: Some(true),
        }));
        assert_eq!(
            route_all([&read, &read], &FREE),
            Some(to(Target::Replica, Reason::Read))
        );
        assert_eq!(
            route_all([&read, &write], &FREE),
            Some(to(Target::Primary, Reason::Write))
        );
        assert_eq!(
            route_all([&begin_ro, &read], &FREE),
            Some(to(Target::Replica, Reason::ReadOnlyTx))
        );
        assert_eq!(route_all([], &FREE), None);
        let temp = c(Class::Write(WriteReason::Ddl)).pinned(Pin::TempTable);
        assert_eq!(
            route_all([&temp], &FREE).map(|d| d.target),
            Some(Target::Primary)
        );
    }

    fn topo(roles: &[(Role, bool, u32)]) -> Topology {
        Topology {
            backends: roles
                .iter()
                .enumerate()
                .map(|(i, &(role, up, weight))| BackendState {
                    role,
                    up,
                    ..BackendState::new(&format!("b{i}:5432"), weight)
                })
                .collect(),
            primary: Some(0),
            ..Topology::default()
        }
    }

    #[test]
    fn replicas_are_picked_by_weight_and_only_when_readable() {
        let t = topo(&[
            (Role::Primary, true, 1),
            (Role::Replica, true, 1),
            (Role::Replica, true, 3),
        ]);
        let picks: Vec<_> = (0..4).map(|r| pick_replica(&t, r)).collect();
        assert_eq!(picks, vec![Some(1), Some(2), Some(2), Some(2)]);
        let t = topo(&[
            (Role::Primary, true, 1),
            (Role::Replica, false, 1),
            (Role::Replica, true, 0),
        ]);
        assert_eq!(pick_replica(&t, 7), None);
        let t = topo(&[
            (Role::Primary, true, 1),
            (Role::Replica, false, 1),
            (Role::Replica, true, 2),
        ]);
        assert_eq!(pick_replica(&t, 7), Some(2));
    }
}
