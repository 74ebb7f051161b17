use super::*;

fn topo(n: usize) -> Topology {
    Topology {
        backends: (0..n)
            .map(|i| BackendState::new(&format!("b{i}:5432"), 1))
            .collect(),
        ..Topology::default()
    }
}

/// A probe that answered: `P` primary / `R` replica on timeline `tl`.
fn ok(role: char, tl: u32) -> ProbeResult {
    Ok(Observation {
        in_recovery: role == 'R',
        timeline: Some(tl),
        system_identifier: Some(42),
        current_lsn: (role == 'P').then_some(1000),
        replay_lsn: (role == 'R').then_some(900),
        receive_lsn: (role == 'R').then_some(950),
        wal_receiver: (role == 'R').then(|| "streaming".to_string()),
        ..Observation::default()
    })
}

fn down() -> ProbeResult {
    Err("connection refused".into())
}

fn step(t: &Topology, results: &[ProbeResult]) -> Topology {
    next(t, results, &Policy::default(), &Persisted::default())
}

/// Runs rounds of results from a fresh topology.
fn run(rounds: &[Vec<ProbeResult>]) -> Topology {
    let mut t = topo(rounds[0].len());
    for r in rounds {
        t = step(&t, r);
    }
    t
}

#[test]
fn primary_rule_table() {
    let cases: Vec<(&str, Vec<ProbeResult>, Option<usize>, bool)> = vec![
        (
            "primary + replica",
            vec![ok('P', 1), ok('R', 1)],
            Some(0),
            false,
        ),
        (
            "primary second",
            vec![ok('R', 1), ok('P', 1)],
            Some(1),
            false,
        ),
        (
            "primary down at start",
            vec![down(), ok('R', 1)],
            None,
            false,
        ),
        (
            "two primaries, one timeline",
            vec![ok('P', 1), ok('P', 1)],
            None,
            true,
        ),
        ("all down", vec![down(), down()], None, false),
        (
            "third is primary",
            vec![ok('R', 1), ok('R', 1), ok('P', 1)],
            Some(2),
            false,
        ),
        (
            "newer timeline wins",
            vec![ok('P', 1), ok('P', 2)],
            Some(1),
            false,
        ),
        (
            "replica on newer timeline: old primary stale",
            vec![ok('P', 1), ok('R', 2)],
            None,
            false,
        ),
    ];
    for (name, results, want, refused) in cases {
        let t = step(&topo(results.len()), &results);
        assert_eq!(t.primary, want, "{name}");
        assert_eq!(
            t.write_refusal.is_some(),
            refused,
            "{name}: {:?}",
            t.write_refusal
        );
    }
}

#[test]
fn stale_primary_is_fenced_and_not_readable() {
    let t = step(&topo(3), &[ok('P', 1), ok('P', 2), ok('R', 2)]);
    assert_eq!(t.primary, Some(1));
    assert_eq!(t.backends[0].role, Role::StalePrimary);
    assert!(t.backends[0]
        .fenced
        .as_deref()
        .unwrap()
        .contains("timeline 1"));
    assert!(!t.readable(0));
    assert_eq!(t.replicas().collect::<Vec<_>>(), vec![2]);
    assert_eq!(t.timeline, Some(2));
}

#[test]
fn mixed_clusters_refuse_writes() {
    let mut other = ok('R', 1);
    if let Ok(o) = &mut other {
        o.system_identifier = Some(43);
    }
    let t = step(&topo(2), &[ok('P', 1), other]);
    assert_eq!(t.primary, None);
    assert!(t.write_refusal.unwrap().contains("different clusters"));
}

#[test]
fn remembered_timeline_fences_an_old_primary() {
    let mut persisted = Persisted::default();
    persisted.timelines.insert(42, 2);
    let t = next(
        &topo(2),
        &[ok('P', 1), down()],
        &Policy::default(),
        &persisted,
    );
    assert_eq!(t.primary, None);
    assert_eq!(t.backends[0].role, Role::StalePrimary);
    assert!(t.backends[0].fenced.is_some());
}

#[test]
fn down_needs_consecutive_failures() {
    let ok_round = || vec![ok('P', 1), ok('R', 1)];
    let fail_round = || vec![down(), ok('R', 1)];
    let t = run(&[ok_round(), fail_round(), fail_round()]);
    assert!(t.backends[0].up, "two failures are not enough");
    assert_eq!(t.primary, Some(0));
    let t = step(&t, &fail_round());
    assert!(!t.backends[0].up);
    assert_eq!(t.primary, None);
    assert_eq!(t.backends[0].role, Role::Primary, "keeps its last role");
    // One failure in between resets the count.
    let t = run(&[
        ok_round(),
        fail_round(),
        fail_round(),
        ok_round(),
        fail_round(),
    ]);
    assert!(t.backends[0].up);
}

#[test]
fn up_needs_consecutive_successes_after_down() {
    let mut t = run(&[vec![ok('R', 1), ok('P', 1)]]);
    for _ in 0..3 {
        t = step(&t, &[down(), ok('P', 1)]);
    }
    assert!(!t.backends[0].up);
    let t = step(&t, &[ok('R', 1), ok('P', 1)]);
    assert!(!t.backends[0].up, "one success is not enough");
    assert!(!t.readable(0));
    let t = step(&t, &[ok('R', 1), ok('P', 1)]);
    assert!(t.backends[0].up);
    assert!(t.readable(0));
}

#[test]
fn promotion_is_followed_at_once() {
    // The primary fails one probe (still up by hysteresis) while the replica
    // reports it was promoted: the new timeline wins in the same round.
    let t = run(&[vec![ok('P', 1), ok('R', 1)], vec![down(), ok('P', 2)]]);
    assert_eq!(t.primary, Some(1));
    assert_eq!(t.backends[0].role, Role::StalePrimary);
}

#[test]
fn restarted_promoted_replica_is_adopted_without_waiting() {
    // Primary gone for good, replica down too; then the replica comes back
    // already promoted: a newer timeline than any known is adopted at once.
    let mut t = run(&[vec![ok('P', 1), ok('R', 1)]]);
    for _ in 0..3 {
        t = step(&t, &[down(), down()]);
    }
    assert!(!t.backends[1].up);
    let t = step(&t, &[down(), ok('P', 2)]);
    assert_eq!(t.primary, Some(1));
    // The same timeline coming back waits for its successes.
    let mut t = run(&[vec![ok('P', 1), ok('R', 1)]]);
    for _ in 0..3 {
        t = step(&t, &[down(), ok('R', 1)]);
    }
    let t = step(&t, &[ok('P', 1), ok('R', 1)]);
    assert_eq!(t.primary, None, "restarted primary waits for successes");
    let t = step(&t, &[ok('P', 1), ok('R', 1)]);
    assert_eq!(t.primary, Some(0));
}

#[test]
fn returning_old_primary_is_stale_even_before_it_is_up() {
    let mut t = run(&[vec![ok('P', 1), ok('R', 1)]]);
    for _ in 0..3 {
        t = step(&t, &[down(), ok('R', 1)]);
    }
    let t = step(&t, &[down(), ok('P', 2)]);
    let t = step(&t, &[ok('P', 1), ok('P', 2)]);
    assert_eq!(t.primary, Some(1));
    assert_eq!(t.write_refusal, None);
    assert_eq!(t.backends[0].role, Role::StalePrimary);
    // Rejoined as a replica on the new timeline: readable after its successes.
    let t = step(&t, &[ok('R', 2), ok('P', 2)]);
    let t = step(&t, &[ok('R', 2), ok('P', 2)]);
    assert_eq!(t.backends[0].fenced, None);
    assert!(t.readable(0));
}

#[test]
fn lag_is_measured_against_the_primary() {
    let t = step(&topo(2), &[ok('P', 1), ok('R', 1)]);
    assert_eq!(t.backends[1].lag_bytes, Some(100));
    assert_eq!(t.backends[0].lag_bytes, None);
    let t = step(&topo(2), &[down(), ok('R', 1)]);
    assert_eq!(t.backends[1].lag_bytes, None, "no primary, no reference");
}

#[test]
fn replica_left_on_an_old_timeline_is_not_readable() {
    let t = step(&topo(3), &[ok('P', 2), ok('R', 1), ok('R', 2)]);
    assert_eq!(t.primary, Some(0));
    assert!(t.backends[1]
        .fenced
        .as_deref()
        .unwrap()
        .contains("timeline 1"));
    assert_eq!(t.backends[1].role, Role::Replica);
    assert_eq!(t.replicas().collect::<Vec<_>>(), vec![2]);
}
