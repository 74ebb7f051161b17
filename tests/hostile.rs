//! Hostile protocol input against the `pgsplit` binary: random and
//! half-valid messages before, during and after authentication, from many
//! clients.
//! The proxy must not panic (its stderr is searched), must answer or close
//! each one, and must serve a well-behaved client throughout.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use support::process::ProxyProcess;
use support::raw::{self, read_until_ready};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Frontend tags, plus a few that do not exist.
const TAGS: &[u8] = b"QPBDECSHFdcfXp\0\xffZz";

fn frame(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![tag];
    m.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    m.extend_from_slice(body);
    m
}

/// One hostile message: a known tag with a random or half-valid body, a
/// lying length, or plain noise.
fn hostile(rng: &mut StdRng) -> Vec<u8> {
    let tag = TAGS[rng.random_range(0..TAGS.len())];
    let mut body: Vec<u8> = (0..rng.random_range(0..64)).map(|_| rng.random()).collect();
    match rng.random_range(0..6) {
        // Random body under a real tag.
        0 | 1 => frame(tag, &body),
        // Counts that promise more than follows (Bind/Parse/Function call).
        2 => {
            body.splice(0..0, b"\0\0\xff\xff".iter().copied());
            frame(tag, &body)
        }
        // A length that lies (short, huge, below 4).
        3 => {
            let mut m = frame(tag, &body);
            let lie: u32 = [0, 3, u32::MAX, 1 << 29, body.len() as u32][rng.random_range(0..5)];
            m[1..5].copy_from_slice(&lie.to_be_bytes());
            m
        }
        // Text without its terminating NUL, or invalid UTF-8.
        4 => frame(tag, b"SELECT \xc3\x28 1"),
        _ => body,
    }
}

/// A password-family message ('p') as SCRAM or md5 would send it, but
/// broken: a bad mechanism, a lying inner length, random bytes.
fn hostile_password(rng: &mut StdRng) -> Vec<u8> {
    let junk: Vec<u8> = (0..rng.random_range(0..80)).map(|_| rng.random()).collect();
    let body = match rng.random_range(0..4) {
        0 => junk,
        1 => {
            let mut b = b"SCRAM-SHA-256\0".to_vec();
            b.extend_from_slice(&rng.random::<u32>().to_be_bytes());
            b.extend_from_slice(b"n,,n=,r=");
            b.extend_from_slice(&junk);
            b
        }
        2 => {
            let mut b = b"SCRAM-SHA-256\0".to_vec();
            let first = b"n,,n=app,r=abcdefghijkl";
            b.extend_from_slice(&(first.len() as u32).to_be_bytes());
            b.extend_from_slice(first);
            b
        }
        _ => b"md5\xff\xfe\0".to_vec(),
    };
    frame(b'p', &body)
}

#[derive(Clone, Copy)]
enum Stage {
    /// Instead of (or with a junk) startup packet.
    Startup,
    /// During authentication, as a SCRAM or an md5 user.
    Auth,
    /// After logging in.
    Session,
}

/// Sends hostile messages at `stage` and reads whatever comes back until
/// the proxy closes or goes quiet. Never panics on the proxy's answer.
async fn abuse(port: u16, seed: u64, stage: Stage) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut s = match stage {
        Stage::Session => match raw::md5_session(port).await {
            Ok(s) => s,
            Err(e) => panic!("login failed: {e}"),
        },
        _ => TcpStream::connect(("127.0.0.1", port)).await.unwrap(),
    };
    if let Stage::Auth = stage {
        let user = if rng.random_bool(0.5) {
            USER
        } else {
            "md5user"
        };
        let _ = s
            .write_all(&raw::startup_packet(&[
                ("user", user),
                ("database", DATABASE),
            ]))
            .await;
        for _ in 0..rng.random_range(1..4) {
            if s.write_all(&hostile_password(&mut rng)).await.is_err() {
                break;
            }
        }
    }
    if let Stage::Startup = stage {
        if rng.random_bool(0.5) {
            // A startup packet with random parameters.
            let junk: String = (0..rng.random_range(0..40))
                .map(|_| rng.random_range(1u8..128) as char)
                .collect();
            let _ = s
                .write_all(&raw::startup_packet(&[("user", &junk), (&junk, "x")]))
                .await;
        }
    }
    for _ in 0..rng.random_range(1..8) {
        if s.write_all(&hostile(&mut rng)).await.is_err() {
            break;
        }
    }
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match tokio::time::timeout(Duration::from_millis(300), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_never_crashes_the_proxy() {
    ensure_md5_user(cluster());
    let mut p = ProxyProcess::start("startup_timeout = \"1s\"\n", "");
    let port = p.port;
    let run = async {
        let mut good = raw::md5_session(port).await.unwrap();
        for round in 0..20u64 {
            let tasks: Vec<_> = (0..20u64)
                .map(|i| {
                    let stage = [Stage::Startup, Stage::Auth, Stage::Session][i as usize % 3];
                    tokio::spawn(abuse(port, round * 1000 + i, stage))
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            // The well-behaved client is served between rounds.
            good.write_all(&raw::query("SELECT 1")).await.unwrap();
            let got = read_until_ready(&mut good).await.unwrap();
            assert!(
                got.iter().any(|(t, _)| *t == b'D'),
                "round {round}: {got:?}"
            );
        }
    };
    if tokio::time::timeout(Duration::from_secs(90), run)
        .await
        .is_err()
    {
        panic!("hostile clients were not dealt with within 90 s");
    }
    assert!(p.alive(), "the proxy died");
    let log = p.log();
    assert!(!log.contains("panicked"), "the proxy panicked:\n{log}");
    // Every hostile session ended: nothing is left open but the good one.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let fds = p.fds();
    println!("400 hostile clients: proxy alive, no panic, {fds} fds open");
    assert!(fds < 60, "{fds} fds open after the hostile clients left");
}
