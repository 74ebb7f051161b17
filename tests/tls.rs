//! TLS on both sides and SCRAM pass-through, against real PostgreSQL and
//! real clients (psql, a rustls client, tokio-postgres).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "tls/pki.rs"]
mod pki;
#[path = "tls/raw.rs"]
mod raw;
mod support;

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use pgsplit::auth::passthrough::{PassThrough, Verifier};
use pgsplit::auth::BackendAuth;
use pgsplit::cluster::{Cluster, ClusterOptions, SslFiles};
use pgsplit::config::{BackendTlsMode, ClientTlsMode, Config};
use pgsplit::tls::backend::BackendTls;
use pki::Pki;
use support::{DATABASE, PASSWORD, USER};

/// `[tls]` with the test certificate.
fn client_tls(pki: &Pki, mode: ClientTlsMode) -> impl FnOnce(&mut Config) + '_ {
    move |c: &mut Config| {
        c.tls.mode = mode;
        c.tls.cert = Some(pki.cert.clone());
        c.tls.key = Some(pki.key.clone());
    }
}

/// psql with `conninfo`, one query; (success, stdout, stderr).
fn psql(conninfo: &str, sql: &str) -> (bool, String, String) {
    let out = Command::new("psql")
        .args([
            "-X",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            conninfo,
            "-c",
            sql,
        ])
        .env_remove("PGSSLMODE")
        .env_remove("PGPASSWORD")
        .output()
        .unwrap_or_else(|e| panic!("running psql (is it on PATH?): {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        String::from_utf8_lossy(&out.stderr).trim().to_owned(),
    )
}

/// The psql run answered 42.
fn assert_42(run: &(bool, String, String), what: &str) {
    assert!(run.0 && run.1 == "42", "{what}: {run:?}");
}

/// The psql run failed, its error containing `error`.
fn assert_refused(run: &(bool, String, String), error: &str, what: &str) {
    assert!(!run.0 && run.2.contains(error), "{what}: {run:?}");
}

fn db_message(e: &tokio_postgres::Error) -> String {
    e.as_db_error()
        .map(|d| d.message().to_owned())
        .unwrap_or_default()
}

fn proxy_conninfo(port: u16, host: &str, extra: &str) -> String {
    format!("host={host} port={port} user={USER} password={PASSWORD} dbname={DATABASE} {extra}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_over_tls_with_require_and_verify_full() {
    let pki = Pki::new();
    let p = support::proxy_with(client_tls(&pki, ClientTlsMode::Allow)).await;
    let port = p.port;
    let ca = pki.ca.display().to_string();
    let other = pki.other_ca.display().to_string();
    let results = tokio::task::spawn_blocking(move || {
        let sql = "SELECT 40 + 2";
        [
            psql(&proxy_conninfo(port, "127.0.0.1", "sslmode=require"), sql),
            psql(
                &proxy_conninfo(
                    port,
                    "localhost",
                    &format!("sslmode=verify-full sslrootcert={ca}"),
                ),
                sql,
            ),
            // The chain must really be checked: another CA fails.
            psql(
                &proxy_conninfo(
                    port,
                    "localhost",
                    &format!("sslmode=verify-full sslrootcert={other}"),
                ),
                sql,
            ),
            // allow: plaintext still works.
            psql(&proxy_conninfo(port, "127.0.0.1", "sslmode=disable"), sql),
        ]
    })
    .await
    .unwrap();
    assert_42(&results[0], "sslmode=require");
    assert_42(&results[1], "verify-full");
    assert_refused(
        &results[2],
        "certificate verify failed",
        "verify-full with the wrong CA must fail",
    );
    assert_42(&results[3], "sslmode=disable");
    p.stop().await;
}

#[tokio::test]
async fn require_refuses_plaintext_with_28000() {
    let pki = Pki::new();
    let p = support::proxy_with(client_tls(&pki, ClientTlsMode::Require)).await;
    let e = tokio_postgres::connect(&p.conninfo("sslmode=disable"), tokio_postgres::NoTls)
        .await
        .err()
        .expect("a plaintext login must be refused");
    assert_eq!(support::sqlstate(&e), "28000", "{e}");
    assert!(db_message(&e).contains("TLS required"), "{e:?}");
    // Over TLS the same user gets in.
    let mut s = raw::ssl_request(p.port, &pki.ca).await.unwrap();
    raw::login(&mut s, USER, DATABASE, PASSWORD).await.unwrap();
    assert_eq!(raw::query(&mut s, "SELECT 7").await.unwrap(), vec!["7"]);
    // Without [tls] configured, SSLRequest is answered N and psql's
    // sslmode=require gives up.
    let plain = support::proxy().await;
    let port = plain.port;
    let (ok, _, err) = tokio::task::spawn_blocking(move || {
        psql(
            &proxy_conninfo(port, "127.0.0.1", "sslmode=require"),
            "SELECT 1",
        )
    })
    .await
    .unwrap();
    assert!(!ok && err.contains("does not support SSL"), "{err}");
    p.stop().await;
    plain.stop().await;
}

/// SCRAM-SHA-256-PLUS (`tls-server-end-point`): libpq's
/// `channel_binding=require` logs in over TLS, proving the client and the
/// proxy hashed the same certificate; without TLS it is not offered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_binding_over_tls() {
    let pki = Pki::new();
    let p = support::proxy_with(|c: &mut Config| {
        client_tls(&pki, ClientTlsMode::Allow)(c);
        c.listen.auth_failure_delay = Duration::ZERO;
    })
    .await;
    let port = p.port;
    let results = tokio::task::spawn_blocking(move || {
        let sql = "SELECT 6 * 7";
        [
            "sslmode=require channel_binding=require",
            "sslmode=require channel_binding=disable",
            "sslmode=disable channel_binding=require",
        ]
        .map(|extra| psql(&proxy_conninfo(port, "127.0.0.1", extra), sql))
    })
    .await
    .unwrap();
    assert_42(&results[0], "channel_binding=require over TLS");
    assert_42(&results[1], "plain SCRAM over TLS");
    assert_refused(
        &results[2],
        "channel binding",
        "channel_binding=require without TLS must fail",
    );

    // What is offered, and the choices refused (28P01, like a wrong
    // password): over TLS, -PLUS first; a client that could bind but says
    // the server cannot (`y`) is a downgrade; a mechanism and a gs2 flag
    // that disagree.
    let tls_cases = [
        ("SCRAM-SHA-256", "y,,n=,r=abcdefgh"),
        ("SCRAM-SHA-256-PLUS", "n,,n=,r=abcdefgh"),
        ("SCRAM-SHA-256", "p=tls-server-end-point,,n=,r=abcdefgh"),
    ];
    for (mechanism, first) in tls_cases {
        let mut s = raw::ssl_request(port, &pki.ca).await.unwrap();
        let (offered, (t, body)) = raw::sasl_start(&mut s, mechanism, first).await;
        assert_eq!(offered, ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]);
        assert_eq!(
            (t, support::raw::error_code(&body).as_deref()),
            (b'E', Some("28P01")),
            "{mechanism} {first}"
        );
    }
    // Plaintext: only SCRAM-SHA-256, and -PLUS is refused.
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let (offered, (t, body)) = raw::sasl_start(
        &mut s,
        "SCRAM-SHA-256-PLUS",
        "p=tls-server-end-point,,n=,r=abcdefgh",
    )
    .await;
    assert_eq!(offered, ["SCRAM-SHA-256"]);
    assert_eq!(
        (t, support::raw::error_code(&body).as_deref()),
        (b'E', Some("28P01"))
    );
    p.stop().await;
}

#[tokio::test]
async fn direct_tls_needs_alpn_postgresql() {
    let pki = Pki::new();
    let p = support::proxy_with(client_tls(&pki, ClientTlsMode::Require)).await;
    let mut s = raw::direct(p.port, &pki.ca, true).await.unwrap();
    assert_eq!(s.get_ref().1.alpn_protocol(), Some(&b"postgresql"[..]));
    raw::login(&mut s, USER, DATABASE, PASSWORD).await.unwrap();
    assert_eq!(
        raw::query(&mut s, "SELECT 'direct'").await.unwrap(),
        vec!["direct"]
    );

    // Without ALPN the handshake may finish, but the proxy closes before
    // any PostgreSQL message.
    let refused = match raw::direct(p.port, &pki.ca, false).await {
        Err(_) => true,
        Ok(mut s) => raw::login(&mut s, USER, DATABASE, PASSWORD).await.is_err(),
    };
    assert!(refused, "direct TLS without ALPN must be closed");
    // And with [tls] disabled, direct TLS is refused too.
    let plain = support::proxy().await;
    let refused = match raw::direct(plain.port, &pki.ca, true).await {
        Err(_) => true,
        Ok(mut s) => raw::login(&mut s, USER, DATABASE, PASSWORD).await.is_err(),
    };
    assert!(refused);
    p.stop().await;
    plain.stop().await;
}

#[tokio::test]
async fn cancel_request_inside_tls() {
    let pki = Pki::new();
    let p = support::proxy_with(client_tls(&pki, ClientTlsMode::Require)).await;
    let mut s = raw::ssl_request(p.port, &pki.ca).await.unwrap();
    let (pid, secret) = raw::login(&mut s, USER, DATABASE, PASSWORD).await.unwrap();
    raw::send_query(&mut s, "SELECT pg_sleep(30)").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let began = std::time::Instant::now();
    raw::cancel(p.port, &pki.ca, pid, &secret).await;
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let (t, body) = support::raw::read_message(&mut s).await.unwrap();
            if t == b'E' {
                return support::raw::error_code(&body);
            }
        }
    })
    .await
    .expect("the query was not cancelled");
    assert_eq!(ended.as_deref(), Some("57014"));
    assert!(began.elapsed() < Duration::from_secs(10));
    p.stop().await;
}

// ---- TLS towards the backends: a dedicated cluster with ssl = on ----

static SSL: OnceLock<(Pki, Cluster)> = OnceLock::new();

fn ssl_cluster() -> &'static (Pki, Cluster) {
    SSL.get_or_init(|| {
        let pki = Pki::new();
        let opts = ClusterOptions {
            replicas: 0,
            password: PASSWORD.into(),
            ssl: Some(SslFiles {
                cert: pki.cert.clone(),
                key: pki.key.clone(),
            }),
            ..ClusterOptions::default()
        };
        match Cluster::start(opts) {
            // The static is never dropped: the files go with the cluster.
            Ok(c) => (pki.move_to(&c.root().join("pki")), c),
            Err(e) => panic!("cannot start the TLS test cluster: {e}"),
        }
    })
}

/// `[backend_tls]` with backends addressed by `host` instead of 127.0.0.1.
fn backend_tls(
    mode: BackendTlsMode,
    ca: Option<PathBuf>,
    host: &'static str,
) -> impl FnOnce(&mut Config) {
    move |c: &mut Config| {
        c.backend_tls.mode = mode;
        c.backend_tls.ca = ca;
        for b in &mut c.backends {
            b.addr = b.addr.replace("127.0.0.1", host);
        }
    }
}

async fn backend_ssl(p: &support::TestProxy) -> bool {
    let client = p.client().await;
    let row = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap();
    row.get(0)
}

async fn http(addr: std::net::SocketAddr, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).await.unwrap();
    body
}

async fn status(p: &support::TestProxy) -> String {
    let admin = p.proxy.as_ref().unwrap().admin_addr;
    http(admin, "GET /status HTTP/1.0\r\nHost: x\r\n\r\n").await
}

#[tokio::test]
async fn backend_verify_full_encrypts_pool_probe_and_cancel() {
    let (pki, cluster) = ssl_cluster();
    let p = support::proxy_on(
        cluster,
        backend_tls(
            BackendTlsMode::VerifyFull,
            Some(pki.ca.clone()),
            "localhost",
        ),
    )
    .await;
    // The probe found the primary over TLS, the pool's connection is TLS.
    assert!(backend_ssl(&p).await);
    let st = status(&p).await;
    assert!(
        st.contains(&format!(
            "\"primary\":\"localhost:{}\"",
            cluster.primary().port
        )),
        "{st}"
    );
    // A cancel reaches the backend (it only listens for it over TLS too).
    let client = p.client().await;
    let token = client.cancel_token();
    let sleeping = tokio::spawn(async move { client.simple_query("SELECT pg_sleep(30)").await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    token.cancel_query(tokio_postgres::NoTls).await.unwrap();
    let done = tokio::time::timeout(Duration::from_secs(10), sleeping)
        .await
        .expect("cancel did not arrive")
        .unwrap();
    let Err(e) = done else {
        panic!("the query must fail")
    };
    assert_eq!(support::sqlstate(&e), "57014");
    p.stop().await;
}

#[tokio::test]
async fn backend_verify_full_with_another_ca_fails_naming_the_backend() {
    let (pki, cluster) = ssl_cluster();
    let addr = format!("localhost:{}", cluster.primary().port);
    let settings = pgsplit::config::BackendTls {
        mode: BackendTlsMode::VerifyFull,
        ca: Some(pki.other_ca.clone()),
    };
    let params = connect_params(&addr, &settings, password_auth());
    let e = pgsplit::backend::connect(&params)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains(&format!("backend {addr}: TLS")), "{e}");
    assert!(
        e.contains("UnknownIssuer") || e.contains("certificate"),
        "{e}"
    );

    // Through the proxy: the probe fails the same way and /status says so;
    // a client gets no session.
    let p = support::proxy_on(
        cluster,
        backend_tls(
            BackendTlsMode::VerifyFull,
            Some(pki.other_ca.clone()),
            "localhost",
        ),
    )
    .await;
    let st = status(&p).await;
    assert!(st.contains("TLS handshake failed"), "{st}");
    assert!(
        tokio_postgres::connect(&p.conninfo(""), tokio_postgres::NoTls)
            .await
            .is_err()
    );
    p.stop().await;
}

#[tokio::test]
async fn backend_require_and_prefer() {
    let (_, cluster) = ssl_cluster();
    let p = support::proxy_on(
        cluster,
        backend_tls(BackendTlsMode::Require, None, "127.0.0.1"),
    )
    .await;
    assert!(backend_ssl(&p).await, "require must encrypt");
    p.stop().await;

    // The shared cluster has ssl = off: prefer falls back, require refuses.
    let p = support::proxy_with(backend_tls(BackendTlsMode::Prefer, None, "127.0.0.1")).await;
    assert!(!backend_ssl(&p).await);
    p.stop().await;
    let addr = support::cluster().primary().addr().to_string();
    let settings = pgsplit::config::BackendTls {
        mode: BackendTlsMode::Require,
        ca: None,
    };
    let e = pgsplit::backend::connect(&connect_params(&addr, &settings, password_auth()))
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains(&format!("backend {addr}: TLS")) && e.contains("does not accept TLS"),
        "{e}"
    );
}

fn password_auth() -> BackendAuth {
    BackendAuth::password(PASSWORD)
}

fn connect_params(
    addr: &str,
    tls: &pgsplit::config::BackendTls,
    auth: BackendAuth,
) -> pgsplit::backend::ConnectParams {
    pgsplit::backend::ConnectParams {
        addr: Arc::from(addr),
        user: USER.into(),
        auth,
        database: DATABASE.into(),
        startup: Vec::new(),
        timeout: Duration::from_secs(5),
        tls: Some(Arc::new(BackendTls::new(addr, tls))),
    }
}

/// A man in the middle for `upstream`: it answers the SSLRequest and ends
/// TLS with its own certificate (from another CA: `require` checks none),
/// opens its own TLS connection to the server and relays between the two.
async fn tls_interceptor(upstream: std::net::SocketAddr, pki: &Pki) -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let settings = pgsplit::config::Tls {
        mode: ClientTlsMode::Require,
        cert: Some(pki.cert.clone()),
        key: Some(pki.key.clone()),
    };
    let tls = pgsplit::tls::server::ClientTls::from_config(&settings).unwrap();
    let acceptor = tls.acceptor().unwrap().clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let mut request = [0u8; 8];
                tcp.read_exact(&mut request).await?;
                tcp.write_all(b"S").await?;
                let mut down = acceptor.accept(tcp).await?;
                let up = tokio::net::TcpStream::connect(upstream).await?;
                let require = pgsplit::config::BackendTls {
                    mode: BackendTlsMode::Require,
                    ca: None,
                };
                let name = upstream.to_string();
                let tls = BackendTls::new(&name, &require);
                let mut up = pgsplit::tls::backend::negotiate(up, Some(&tls), &name)
                    .await
                    .map_err(std::io::Error::other)?;
                tokio::io::copy_bidirectional(&mut down, &mut up).await
            });
        }
    });
    addr
}

/// `[backend_tls] mode = "require"` checks no certificate, but pgsplit's
/// SCRAM login is bound to the one the server presents
/// (SCRAM-SHA-256-PLUS): through a man in the middle with another
/// certificate the server refuses the login, while a direct login works.
#[tokio::test]
async fn backend_logins_are_bound_to_the_servers_certificate() {
    let (_, cluster) = ssl_cluster();
    let require = pgsplit::config::BackendTls {
        mode: BackendTlsMode::Require,
        ca: None,
    };
    let direct = format!("127.0.0.1:{}", cluster.primary().port);
    pgsplit::backend::connect(&connect_params(&direct, &require, password_auth()))
        .await
        .expect("a direct login, bound to the server's own certificate");
    let intruder = Pki::new();
    let via = tls_interceptor(cluster.primary().addr(), &intruder).await;
    let e = pgsplit::backend::connect(&connect_params(&via.to_string(), &require, password_auth()))
        .await
        .expect_err("a login through a TLS interceptor must fail")
        .to_string();
    assert!(e.contains("channel binding"), "{e}");
}

// ---- SCRAM pass-through: only the verifier in proxy.toml ----

fn app_verifier() -> String {
    support::cluster()
        .primary()
        .psql(&format!(
            "SELECT rolpassword FROM pg_authid WHERE rolname = '{USER}'"
        ))
        .unwrap()
}

/// The first user (`app`) gets `verifier` instead of its password; the
/// probes keep a password of their own.
fn with_verifier(verifier: String) -> impl FnOnce(&mut Config) {
    move |c: &mut Config| {
        c.users[0].password = Some(verifier);
        c.health.password = Some(PASSWORD.into());
    }
}

#[tokio::test]
async fn verifier_only_user_logs_in_to_backends_by_pass_through() {
    let verifier = app_verifier();
    assert!(verifier.starts_with("SCRAM-SHA-256$"), "{verifier}");
    let p = support::proxy_with(with_verifier(verifier)).await;
    let client = p.client().await;
    let row = client
        .query_one("SELECT current_user::text", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), USER);
    // A second session reuses what the first taught (and the pool).
    let again = p.client().await;
    again.simple_query("SELECT 1").await.unwrap();
    let wrong = format!("postgres://{USER}:nope@127.0.0.1:{}/{DATABASE}", p.port);
    let e = tokio_postgres::connect(&wrong, tokio_postgres::NoTls)
        .await
        .err()
        .unwrap();
    assert_eq!(support::sqlstate(&e), "28P01");
    p.stop().await;
}

#[tokio::test]
async fn pass_through_refuses_a_backend_with_another_verifier() {
    // Right password, other salt: the client is accepted, the backend is not.
    let other = Verifier::from_password(PASSWORD, b"another-salt-123", 4096).to_text();
    let p = support::proxy_with(with_verifier(other)).await;
    let e = tokio_postgres::connect(&p.conninfo(""), tokio_postgres::NoTls)
        .await
        .err()
        .unwrap();
    assert_eq!(support::sqlstate(&e), "28000", "{e}");
    assert!(
        db_message(&e).contains("differs from the configured verifier"),
        "{e:?}"
    );
    p.stop().await;

    // Before any client logged in there is no key: the error says so.
    let v = Verifier::parse(&app_verifier()).unwrap();
    let addr = support::cluster().primary().addr().to_string();
    let auth = BackendAuth::PassThrough(Arc::new(PassThrough::new(v)));
    let e = pgsplit::backend::connect(&connect_params(
        &addr,
        &pgsplit::config::BackendTls::default(),
        auth,
    ))
    .await
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("no client has logged in"), "{e}");
}

// ---- Secrets stay out of logs, Debug and /status ----

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn secrets_stay_out_of_debug_logs_and_status() {
    let verifier = app_verifier();
    let stored_key = verifier
        .rsplit('$')
        .next()
        .unwrap()
        .split(':')
        .next()
        .unwrap()
        .to_owned();
    let captured = Captured::default();
    let sink = captured.clone();
    // This test's runtime is single-threaded: every proxy task logs here.
    let _guard = tracing::subscriber::set_default(
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || sink.clone())
            .finish(),
    );
    let p = support::proxy_with(with_verifier(verifier.clone())).await;
    let client = p.client().await;
    client.simple_query("SELECT 1").await.unwrap();
    let wrong = format!(
        "postgres://{USER}:wrong-{PASSWORD}@127.0.0.1:{}/{DATABASE}",
        p.port
    );
    assert!(tokio_postgres::connect(&wrong, tokio_postgres::NoTls)
        .await
        .is_err());
    let st = status(&p).await;
    drop(client);
    p.stop().await;

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("authentication failed"),
        "debug logs were not captured:\n{logs}"
    );
    assert!(st.contains("\"pools\""), "{st}");
    let config = support::config();
    let mut with_v = config.clone();
    with_verifier(verifier.clone())(&mut with_v);
    let debug = format!("{config:?} {with_v:?}");
    let effective = with_v.effective();
    for (what, text) in [
        ("logs", &logs),
        ("/status", &st),
        ("Debug", &debug),
        ("config-check", &effective),
    ] {
        for secret in [PASSWORD, verifier.as_str(), stored_key.as_str()] {
            assert!(!text.contains(secret), "{what} contains a secret");
        }
    }
}

// ---- auth_query: users not in [[users]] ----

/// A lookup role and a SECURITY DEFINER function as the README describes,
/// and a login role the proxy's config does not name.
fn ensure_auth_query_setup() {
    let sql = [
        "DO $$ BEGIN CREATE ROLE pgsplit_auth LOGIN PASSWORD 'auth-secret'; \
         EXCEPTION WHEN duplicate_object THEN NULL; END $$",
        "DO $$ BEGIN CREATE ROLE lookup_me LOGIN PASSWORD 'lookup-pw'; \
         EXCEPTION WHEN duplicate_object THEN NULL; END $$",
        "CREATE SCHEMA IF NOT EXISTS pgsplit",
        "CREATE OR REPLACE FUNCTION pgsplit.get_auth(p_usename text) \
         RETURNS TABLE (usename name, passwd text) LANGUAGE sql SECURITY DEFINER \
         SET search_path = pg_catalog AS \
         $$ SELECT rolname, rolpassword FROM pg_catalog.pg_authid \
            WHERE rolname = p_usename AND rolcanlogin $$",
        "REVOKE ALL ON FUNCTION pgsplit.get_auth(text) FROM PUBLIC",
        "GRANT USAGE ON SCHEMA pgsplit TO pgsplit_auth",
        "GRANT EXECUTE ON FUNCTION pgsplit.get_auth(text) TO pgsplit_auth",
    ];
    for s in sql {
        if let Err(e) = support::cluster().primary().psql_db(DATABASE, s) {
            panic!("auth_query setup `{s}`: {e}");
        }
    }
}

#[tokio::test]
async fn auth_query_fetches_the_verifier_and_passes_through() {
    ensure_auth_query_setup();
    let p = support::proxy_with(|c: &mut Config| {
        c.auth = Some(
            toml::from_str(&format!(
                "query_user = \"pgsplit_auth\"\nquery_password = \"auth-secret\"\n\
                 query_database = \"{DATABASE}\"\ncache_ttl = \"1s\"\n"
            ))
            .unwrap(),
        );
    })
    .await;
    let url =
        |user: &str, pw: &str| format!("postgres://{user}:{pw}@127.0.0.1:{}/{DATABASE}", p.port);
    let (client, conn) =
        tokio_postgres::connect(&url("lookup_me", "lookup-pw"), tokio_postgres::NoTls)
            .await
            .unwrap();
    tokio::spawn(conn);
    let row = client
        .query_one("SELECT current_user::text", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "lookup_me");
    for (user, pw) in [("lookup_me", "wrong"), ("nobody_here", "x")] {
        let e = tokio_postgres::connect(&url(user, pw), tokio_postgres::NoTls)
            .await
            .err()
            .unwrap();
        assert_eq!(support::sqlstate(&e), "28P01", "{user}: {e:?}");
    }
    // After the cache expires the user is fetched again and still gets in
    // (its pooled connection is reused).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (again, conn) =
        tokio_postgres::connect(&url("lookup_me", "lookup-pw"), tokio_postgres::NoTls)
            .await
            .unwrap();
    tokio::spawn(conn);
    again.simple_query("SELECT 1").await.unwrap();
    drop(client);
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_rereads_the_certificate_files() {
    let (a, b) = (Pki::new(), Pki::new());
    let (live_cert, live_key) = (a.dir.join("live.pem"), a.dir.join("live.key"));
    let install = |pki: &Pki| {
        std::fs::copy(&pki.cert, &live_cert).unwrap();
        std::fs::copy(&pki.key, &live_key).unwrap();
    };
    install(&a);
    let path = a.dir.join("proxy.toml");
    let text = format!(
        "{}[tls]\nmode = \"require\"\ncert = \"{}\"\nkey = \"{}\"\n",
        support::config_text(),
        live_cert.display(),
        live_key.display()
    );
    std::fs::write(&path, text).unwrap();
    let proxy = pgsplit::start(Config::load(&path).unwrap()).await.unwrap();
    let port = proxy.addr.port();
    let verify = |ca: &std::path::Path| {
        let info = proxy_conninfo(
            port,
            "localhost",
            &format!("sslmode=verify-full sslrootcert={}", ca.display()),
        );
        async move {
            tokio::task::spawn_blocking(move || psql(&info, "SELECT 1").0)
                .await
                .unwrap()
        }
    };
    assert!(verify(&a.ca).await && !verify(&b.ca).await);
    // Renewed files, same config text: a reload serves the new certificate.
    install(&b);
    proxy.reload().await.unwrap();
    assert!(verify(&b.ca).await && !verify(&a.ca).await);
    // A broken file rejects the reload; the running certificate stays.
    std::fs::write(&live_cert, "not a certificate").unwrap();
    let e = proxy.reload().await.err().unwrap().to_string();
    assert!(e.contains("[tls]") && e.contains("live.pem"), "{e}");
    assert!(verify(&b.ca).await);
    proxy.stop(Duration::from_secs(2)).await;
}
