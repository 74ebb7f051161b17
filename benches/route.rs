//! The routing decision, per statement: `route` for a realistic mix of
//! classified statements, `route_all` for an extended-protocol batch,
//! `pick_replica` over a 1 primary + 3 replicas topology, and the whole
//! per-statement decision as the session makes it (borrow the topology
//! snapshot from the watch channel, build the session view, route).

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use pgsplit::classify::{Class, Classification, Hint, SessionCmd, TxCmd, WriteReason};
use pgsplit::route::{pick_replica, route, route_all, SessionView, Target};
use pgsplit::topology::{BackendState, Role, Topology};

fn topology() -> Topology {
    let backend = |i: usize, role, weight, up| BackendState {
        role,
        up,
        responsive: up,
        timeline: Some(1),
        lag_bytes: Some(0),
        lag_seconds: Some(0.0),
        ..BackendState::new(&format!("10.0.0.{}:5432", 11 + i), weight)
    };
    Topology {
        backends: vec![
            backend(0, Role::Primary, 1, true),
            backend(1, Role::Replica, 1, true),
            backend(2, Role::Replica, 3, true),
            // A replica that is down: skipped by every pick.
            backend(3, Role::Replica, 2, false),
        ],
        primary: Some(0),
        timeline: Some(1),
        ..Topology::default()
    }
}

fn mix() -> Vec<Classification> {
    let c = Classification::of;
    vec![
        c(Class::Read),
        c(Class::Read),
        c(Class::Read),
        c(Class::Write(WriteReason::Dml)),
        c(Class::Write(WriteReason::VolatileFunction)),
        c(Class::Transaction(TxCmd::Begin {
            read_only: Some(true),
        })),
        c(Class::Transaction(TxCmd::Begin { read_only: None })),
        c(Class::Session(SessionCmd::Set {
            name: "search_path".into(),
            value: "app".into(),
            local: false,
        })),
        Classification {
            hint: Some(Hint::Primary),
            ..c(Class::Read)
        },
    ]
}

const FREE: SessionView = SessionView {
    transaction: None,
    pinned: false,
    read_only_default: false,
    replica_usable: true,
    replicas_lagging: false,
    last: Some(Target::Replica),
};

fn bench(c: &mut Criterion) {
    let mix = mix();
    let topo = topology();
    let mut g = c.benchmark_group("route");

    g.bench_function("route: one read", |b| {
        b.iter(|| route(black_box(&mix[0]), black_box(&FREE)))
    });
    g.bench_function("route: 9-statement mix", |b| {
        b.iter(|| {
            for cl in &mix {
                black_box(route(black_box(cl), black_box(&FREE)));
            }
        })
    });
    let in_tx = SessionView {
        transaction: Some(Target::Primary),
        ..FREE
    };
    g.bench_function("route: inside a transaction", |b| {
        b.iter(|| route(black_box(&mix[3]), black_box(&in_tx)))
    });
    let batch: Vec<Classification> = std::iter::repeat_n(Classification::of(Class::Read), 8)
        .chain([Classification::of(Class::Write(WriteReason::Dml))])
        .collect();
    g.bench_function("route_all: pipelined batch of 9", |b| {
        b.iter(|| route_all(black_box(&batch).iter(), black_box(&FREE)))
    });
    let mut roll = 0u64;
    g.bench_function("pick_replica: 1 primary + 3 replicas (1 down)", |b| {
        b.iter(|| {
            roll = roll.wrapping_add(0x9E37_79B9_7F4A_7C15);
            pick_replica(black_box(&topo), roll)
        })
    });

    // What the session does per statement: borrow the published snapshot,
    // derive the view (is a replica usable?), route, and when the answer is
    // a replica and none is held yet, pick one.
    let (_tx, rx) = tokio::sync::watch::channel(Arc::new(topology()));
    g.bench_function("decision: snapshot + view + route + pick", |b| {
        b.iter(|| {
            let t = rx.borrow();
            let view = SessionView {
                replica_usable: t.replicas().next().is_some(),
                ..FREE
            };
            let d = route(black_box(&mix[0]), &view);
            let pick = match d.target {
                Target::Replica => pick_replica(&t, 7),
                Target::Primary => t.primary,
            };
            black_box((d, pick))
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
