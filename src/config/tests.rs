use std::time::Duration;

use super::*;

const MINIMAL: &str = r#"
[listen]
addr = "127.0.0.1:6432"

[admin]
addr = "127.0.0.1:9930"

[[backends]]
addr = "10.0.0.11:5432"
[[backends]]
addr = "db2.example.com:5432"

[[users]]
name = "app"
password = "secret"
"#;

fn err(text: &str) -> String {
    match Config::parse(text) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn minimal_config_parses_with_defaults() {
    let c = Config::parse(MINIMAL).unwrap();
    assert_eq!(c.backends.len(), 2);
    assert_eq!(c.backends[1].weight, 1);
    assert_eq!(c.pool.max_per_backend, 20);
    assert_eq!(c.pool.checkout_timeout, Duration::from_secs(5));
    assert_eq!(c.users[0].auth, AuthMethod::ScramSha256);
    assert_eq!(c.health_credentials(), ("app".into(), "secret".into()));
}

#[test]
fn unknown_key_is_named_with_its_line() {
    let e = err(&MINIMAL.replace("[admin]", "[admin]\nbogus_key = 1"));
    assert!(e.contains("bogus_key"), "{e}");
    assert!(e.contains("line 6"), "{e}");
}

#[test]
fn missing_sections_are_named() {
    let e = err("[[backends]]\naddr = \"a:1\"\n[[users]]\nname=\"u\"\npassword=\"p\"\n");
    assert!(e.contains("listen"), "{e}");
    let e = err("[listen]\naddr = \"127.0.0.1:1\"\n[[users]]\nname=\"u\"\npassword=\"p\"\n");
    assert!(e.contains("[[backends]]"), "{e}");
    let e = err("[listen]\naddr = \"127.0.0.1:1\"\n[[backends]]\naddr = \"a:1\"\n");
    assert!(e.contains("[[users]]"), "{e}");
}

#[test]
fn bad_addresses_are_rejected() {
    let e = err(&MINIMAL.replace("127.0.0.1:6432", "localhost"));
    assert!(e.contains("[listen] addr"), "{e}");
    let e = err(&MINIMAL.replace("10.0.0.11:5432", "10.0.0.11"));
    assert!(e.contains("not host:port"), "{e}");
    let e = err(&MINIMAL.replace("10.0.0.11:5432", "10.0.0.11:99999"));
    assert!(e.contains("not host:port"), "{e}");
}

#[test]
fn duplicate_backend_is_rejected() {
    let e = err(&MINIMAL.replace("db2.example.com:5432", "10.0.0.11:5432"));
    assert!(e.contains("duplicate backend"), "{e}");
}

#[test]
fn user_without_password_is_rejected() {
    let e = err(&MINIMAL.replace("password = \"secret\"", ""));
    assert!(e.contains("has no password"), "{e}");
    let e = err(&MINIMAL.replace(
        "password = \"secret\"",
        "password_env = \"PGSPLIT_TEST_SURELY_UNSET\"",
    ));
    assert!(e.contains("PGSPLIT_TEST_SURELY_UNSET"), "{e}");
}

#[test]
fn durations_and_enums_parse() {
    let c = Config::parse(&format!(
        "{MINIMAL}\n[pool]\ncheckout_timeout = \"250ms\"\n[log]\nformat = \"json\"\n"
    ))
    .unwrap();
    assert_eq!(c.pool.checkout_timeout, Duration::from_millis(250));
    assert_eq!(c.log.format, LogFormat::Json);
    let e = err(&format!("{MINIMAL}\n[pool]\ncheckout_timeout = \"soon\"\n"));
    assert!(e.contains("checkout_timeout"), "{e}");
}

#[test]
fn pool_mode_defaults_and_per_user_override() {
    let c = Config::parse(MINIMAL).unwrap();
    assert_eq!(c.pool.mode, PoolMode::Session);
    assert_eq!(c.pool.server_lifetime, Duration::from_secs(3600));
    assert_eq!(c.pool.reset_timeout, Duration::from_secs(5));
    assert!(c.pool.auto_prepare);
    let c = Config::parse(&format!(
        "{MINIMAL}\npool_mode = \"session\"\n[pool]\nmode = \"transaction\"\nserver_lifetime = \"10m\"\nreset_timeout = \"500ms\"\nauto_prepare = false\n"
    ))
    .unwrap();
    assert_eq!(c.pool.mode, PoolMode::Transaction);
    assert_eq!(c.pool_mode("app", "app"), PoolMode::Session);
    assert_eq!(c.pool_mode("other", "app"), PoolMode::Transaction);
    assert_eq!(c.pool.server_lifetime, Duration::from_secs(600));
    assert_eq!(c.pool.reset_timeout, Duration::from_millis(500));
    assert!(!c.pool.auto_prepare);
    let e = err(&format!("{MINIMAL}\n[pool]\nmode = \"statement\"\n"));
    assert!(e.contains("mode"), "{e}");
    let e = err(&format!("{MINIMAL}\n[pool]\nreset_timeout = \"0s\"\n"));
    assert!(e.contains("reset_timeout"), "{e}");
}

#[test]
fn pool_mode_per_database_between_user_and_global() {
    let users = "[[users]]\nname = \"pinned\"\npassword = \"x\"\npool_mode = \"session\"\n";
    let c = Config::parse(&format!(
        "{MINIMAL}\n{users}[[databases]]\nname = \"reports\"\npool_mode = \"transaction\"\n\
         [[databases]]\nname = \"plain\"\n"
    ))
    .unwrap();
    // global session < database transaction < user session
    assert_eq!(c.pool_mode("app", "reports"), PoolMode::Transaction);
    assert_eq!(c.pool_mode("app", "plain"), PoolMode::Session);
    assert_eq!(c.pool_mode("app", "other"), PoolMode::Session);
    assert_eq!(c.pool_mode("pinned", "reports"), PoolMode::Session);
    let c = Config::parse(&format!(
        "{MINIMAL}\n[[databases]]\nname = \"legacy\"\npool_mode = \"session\"\n\
         [pool]\nmode = \"transaction\"\n"
    ))
    .unwrap();
    assert_eq!(c.pool_mode("app", "legacy"), PoolMode::Session);
    assert_eq!(c.pool_mode("app", "app"), PoolMode::Transaction);
    let e = err(&format!(
        "{MINIMAL}\n[[databases]]\nname = \"a\"\n[[databases]]\nname = \"a\"\n"
    ));
    assert!(e.contains("duplicate database"), "{e}");
    let e = err(&format!(
        "{MINIMAL}\n[[databases]]\nname = \"a\"\nmode = \"session\"\n"
    ));
    assert!(e.contains("mode"), "{e}");
}

#[test]
fn health_and_failover_keys() {
    let c = Config::parse(MINIMAL).unwrap();
    assert_eq!((c.health.failures, c.health.successes), (3, 2));
    assert_eq!(c.health.state_file, None);
    assert!(!c.failover.auto_promote);
    assert_eq!(c.failover.timeout, Duration::from_secs(10));
    let c = Config::parse(&format!(
        "{MINIMAL}\n[health]\nfailures = 5\nstate_file = \"/var/lib/pgsplit/state.json\"\n\
         [failover]\nauto_promote = true\ntimeout = \"3s\"\nrequire_vip = true\nvip = \"10.0.0.100\"\n"
    ))
    .unwrap();
    assert_eq!(c.health.failures, 5);
    assert!(c.failover.auto_promote && c.failover.require_vip);
    let e = err(&format!("{MINIMAL}\n[failover]\nrequire_vip = true\n"));
    assert!(e.contains("vip"), "{e}");
    let e = err(&format!("{MINIMAL}\n[health]\nsuccesses = 0\n"));
    assert!(e.contains("successes"), "{e}");
}

#[test]
fn effective_config_hides_passwords() {
    let c = Config::parse(MINIMAL).unwrap();
    let text = c.effective();
    assert!(text.contains("max_per_backend = 20"), "{text}");
    assert!(
        text.contains("password"),
        "password key shown as set: {text}"
    );
    assert!(!text.contains("secret"), "{text}");
}

const VERIFIER: &str = "SCRAM-SHA-256$4096:c2FsdHNhbHRzYWx0c2FsdA==$\
    AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=:\
    HyAhIiMkJSYnKCkqKywtLi8wMTIzNDU2Nzg5Ojs8PT4=";

#[test]
fn tls_sections_parse_and_need_their_files() {
    let c = Config::parse(&format!(
        "{MINIMAL}[tls]\nmode = \"require\"\ncert = \"c.pem\"\nkey = \"k.pem\"\n\
         [backend_tls]\nmode = \"verify-full\"\nca = \"ca.pem\"\n"
    ))
    .unwrap();
    assert_eq!(c.tls.mode, ClientTlsMode::Require);
    assert_eq!(c.backend_tls.mode, BackendTlsMode::VerifyFull);
    assert_eq!(
        Config::parse(MINIMAL).unwrap().tls.mode,
        ClientTlsMode::Disable
    );
    let e = err(&format!(
        "{MINIMAL}[tls]\nmode = \"allow\"\ncert = \"c.pem\"\n"
    ));
    assert!(
        e.contains("[tls] mode = \"allow\" needs both cert and key"),
        "{e}"
    );
    let e = err(&format!("{MINIMAL}[backend_tls]\nmode = \"verify-full\"\n"));
    assert!(e.contains("verify-full\" needs ca"), "{e}");
    let e = err(&format!("{MINIMAL}[tls]\nmode = \"verify-full\"\n"));
    assert!(e.contains("unknown variant"), "{e}");
}

#[test]
fn a_backend_overrides_backend_tls() {
    let text = MINIMAL.replace(
        "addr = \"10.0.0.11:5432\"",
        "addr = \"10.0.0.11:5432\"\ntls_mode = \"require\"",
    );
    let c = Config::parse(&format!("{text}[backend_tls]\nmode = \"prefer\"\n")).unwrap();
    assert_eq!(
        c.backend_tls_for(&c.backends[0]).mode,
        BackendTlsMode::Require
    );
    assert_eq!(
        c.backend_tls_for(&c.backends[1]).mode,
        BackendTlsMode::Prefer
    );
    let text = MINIMAL.replace(
        "addr = \"10.0.0.11:5432\"",
        "addr = \"10.0.0.11:5432\"\ntls_mode = \"verify-full\"",
    );
    let e = err(&text);
    assert!(
        e.contains("backend \"10.0.0.11:5432\"") && e.contains("needs ca"),
        "{e}"
    );
}

#[test]
fn verifier_passwords_are_checked_and_need_a_probe_password() {
    let with = |extra: &str| {
        MINIMAL.replace(
            "password = \"secret\"",
            &format!("password = \"{VERIFIER}\"\n{extra}"),
        )
    };
    let e = err(&with(""));
    assert!(
        e.contains("[health] user \"app\" has only a SCRAM verifier"),
        "{e}"
    );
    let ok = format!("{}[health]\npassword = \"probe\"\n", with(""));
    Config::parse(&ok).unwrap();
    let e = err(&format!(
        "{}[health]\npassword = \"probe\"\n",
        with("auth = \"md5\"")
    ));
    assert!(e.contains("md5\" needs the plaintext password"), "{e}");
    let broken = MINIMAL.replace(
        "password = \"secret\"",
        "password = \"SCRAM-SHA-256$4096:xx\"",
    );
    let e = err(&format!("{broken}[health]\npassword = \"probe\"\n"));
    assert!(
        e.contains("not a SCRAM-SHA-256 verifier") && !e.contains("4096:xx"),
        "{e}"
    );
}

#[test]
fn auth_query_needs_a_password_and_takes_the_user_as_parameter() {
    let c = Config::parse(&format!(
        "{MINIMAL}[auth]\nquery_user = \"pgsplit_auth\"\nquery_password = \"pw\"\n"
    ))
    .unwrap();
    let a = c.auth.as_ref().unwrap();
    assert_eq!(a.query, "SELECT usename, passwd FROM pgsplit.get_auth($1)");
    assert_eq!(a.cache_ttl, Duration::from_secs(30));
    let e = err(&format!("{MINIMAL}[auth]\nquery_user = \"a\"\n"));
    assert!(e.contains("query_password"), "{e}");
    let e = err(&format!(
        "{MINIMAL}[auth]\nquery_user = \"a\"\nquery_password = \"p\"\nquery = \"SELECT 1\"\n"
    ));
    assert!(e.contains("$1"), "{e}");
}

#[test]
fn debug_and_effective_config_never_show_secrets() {
    let text = format!(
        "{}[health]\npassword = \"probe-pw\"\n[admin]\ntoken = \"tok-en\"\n\
         [auth]\nquery_user = \"a\"\nquery_password = \"query-pw\"\n",
        MINIMAL
            .replace("[admin]\naddr = \"127.0.0.1:9930\"\n", "")
            .replace(
                "password = \"secret\"",
                &format!(
                    "password = \"{VERIFIER}\"\n[[users]]\nname = \"b\"\npassword = \"plain-pw\""
                ),
            )
    );
    let c = Config::parse(&text).unwrap();
    let creds = crate::auth::Credentials::from_config(&c);
    let shown = format!(
        "{c:?}\n{}\n{creds:?}\n{:?}\n{:?}",
        c.effective(),
        creds.get("app").unwrap().backend,
        creds.get("b").unwrap().backend
    );
    for secret in [
        "probe-pw", "tok-en", "query-pw", "plain-pw", VERIFIER, "AAECAwQF", "c2FsdHNh",
    ] {
        assert!(!shown.contains(secret), "{secret} shown in:\n{shown}");
    }
}

#[test]
fn client_limits_have_defaults_and_bounds() {
    let c = Config::parse(MINIMAL).unwrap();
    assert_eq!(c.listen.max_message_size, 64 << 20);
    assert_eq!(c.listen.auth_failure_delay, Duration::from_millis(500));
    assert_eq!(c.listen.idle_in_transaction_timeout, None);
    let with = |keys: &str| MINIMAL.replace("[admin]", &format!("{keys}\n[admin]"));
    let c = Config::parse(&with(
        "idle_in_transaction_timeout = \"30s\"\nauth_failure_delay = \"0s\"",
    ))
    .unwrap();
    assert_eq!(
        c.listen.idle_in_transaction_timeout,
        Some(Duration::from_secs(30))
    );
    assert!(c.listen.auth_failure_delay.is_zero());
    let e = err(&with("idle_in_transaction_timeout = \"0s\""));
    assert!(e.contains("idle_in_transaction_timeout"), "{e}");
    let e = err(&with("max_message_size = 2147483648"));
    assert!(e.contains("max_message_size"), "{e}");
    let e = err(&with("max_message_size = 10"));
    assert!(e.contains("max_message_size"), "{e}");
    let e = err(&with("max_clients = 0"));
    assert!(e.contains("max_clients"), "{e}");
}
