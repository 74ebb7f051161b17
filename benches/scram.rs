//! Client-facing SCRAM-SHA-256 cost per connection, server side.
//!
//! pgsplit turns each user's password into a SCRAM verifier (PBKDF2, 4096
//! iterations, then StoredKey and ServerKey) once at start-up
//! (`src/auth`), so a connecting client costs the two server steps of
//! pgwire's `ScramServerAuth`: the client-first message (parse, nonce,
//! server-first) and the client-final message (proof checked against
//! StoredKey, server signature: two HMACs). Measured beside it: the salted
//! password handed over instead (four HMACs per login; pgsplit did this
//! before), and a PBKDF2 run per connection.
//! The client messages come from pgwire's client-side `ScramClientAuth`;
//! its own PBKDF2 (the client's work) stays outside the timed code.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use pgsplit::auth::passthrough::Verifier;
use pgwire::api::auth::sasl::scram::{
    gen_salted_password, ScramClientAuth, ScramSecret, ScramServerAuth,
};

const PASSWORD: &str = "correct horse battery staple";
const ITERATIONS: usize = 4096;

fn salted(salt: &[u8], salted_password: &[u8]) -> ScramSecret {
    ScramSecret::SaltedPassword {
        salt: salt.to_vec(),
        salted_password: salted_password.to_vec(),
    }
}

/// What `UserEntry::scram_secret` hands pgwire per connection.
fn verifier(v: &Verifier) -> ScramSecret {
    ScramSecret::Verifier {
        salt: v.salt.clone(),
        iterations: v.iterations as usize,
        stored_key: v.stored_key.clone(),
        server_key: v.server_key.clone(),
    }
}

fn bench(c: &mut Criterion) {
    let salt = b"0123456789abcdef".to_vec();
    let cached = gen_salted_password(PASSWORD, &salt, ITERATIONS);
    let ver = Verifier::from_password(PASSWORD, &salt, ITERATIONS as u32);
    let server = ScramServerAuth::new();
    let client = ScramClientAuth::new("app".into(), PASSWORD.into());

    // One real exchange, checked end to end, reused by the timed steps:
    // `on_client_final_message` takes `&self`, so the same server state and
    // client-final message can be verified again and again.
    let Ok((client_first, client_wait)) = client.build_client_first() else {
        panic!("client-first failed");
    };
    let Ok((server_first, server_wait)) =
        server.on_client_first_message_with_secret(client_first.as_bytes(), salted(&salt, &cached))
    else {
        panic!("server-first failed");
    };
    let Ok((client_final, client_check)) = client_wait.build_client_final(server_first.as_bytes())
    else {
        panic!("client-final failed");
    };
    let Ok(server_final) = server_wait.on_client_final_message(client_final.as_bytes()) else {
        panic!("the server rejected a correct proof");
    };
    assert!(client_check
        .verify_server_final(server_final.as_bytes())
        .is_ok());

    let mut g = c.benchmark_group("scram");
    g.bench_function("server first message (cached salted password)", |b| {
        b.iter(|| {
            let r = server.on_client_first_message_with_secret(
                black_box(client_first.as_bytes()),
                salted(&salt, &cached),
            );
            black_box(r.is_ok())
        })
    });
    g.bench_function("server final message (proof check)", |b| {
        b.iter(|| {
            black_box(server_wait.on_client_final_message(black_box(client_final.as_bytes())))
        })
    });
    // The final step needs the nonce of this very first step, so the
    // client-final message is rebuilt outside the timing: a fixed client
    // proof cannot match a fresh server nonce.
    let per_connection = |secret: &dyn Fn() -> ScramSecret, iters: u64| {
        let mut total = std::time::Duration::ZERO;
        for _ in 0..iters {
            let Ok((cf, cw)) = client.build_client_first() else {
                panic!("client-first failed");
            };
            let t = std::time::Instant::now();
            let first =
                server.on_client_first_message_with_secret(black_box(cf.as_bytes()), secret());
            total += t.elapsed();
            let Ok((sf, sw)) = first else {
                panic!("server-first failed")
            };
            let Ok((fin, _)) = cw.build_client_final(sf.as_bytes()) else {
                panic!("client-final failed");
            };
            let t = std::time::Instant::now();
            let ok = sw
                .on_client_final_message(black_box(fin.as_bytes()))
                .is_ok();
            total += t.elapsed();
            assert!(ok);
        }
        total
    };
    g.bench_function("verify per connection, verifier (first + final)", |b| {
        b.iter_custom(|iters| per_connection(&|| verifier(&ver), iters))
    });
    g.bench_function(
        "verify per connection, salted password (first + final)",
        |b| b.iter_custom(|iters| per_connection(&|| salted(&salt, &cached), iters)),
    );
    g.bench_function("verify per connection, PBKDF2 each time", |b| {
        b.iter(|| {
            let sp = gen_salted_password(black_box(PASSWORD), &salt, ITERATIONS);
            let r = server.on_client_first_message_with_secret(
                black_box(client_first.as_bytes()),
                salted(&salt, &sp),
            );
            black_box((
                r.is_ok(),
                server_wait.on_client_final_message(client_final.as_bytes()),
            ))
        })
    });
    g.bench_function("gen_salted_password (PBKDF2-SHA256, 4096)", |b| {
        b.iter(|| gen_salted_password(black_box(PASSWORD), black_box(&salt), ITERATIONS))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
