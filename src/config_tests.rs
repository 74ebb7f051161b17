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
    let c = Config::parse(&format!(
        "{MINIMAL}\npool_mode = \"session\"\n[pool]\nmode = \"transaction\"\nserver_lifetime = \"10m\"\n"
    ))
    .unwrap();
    assert_eq!(c.pool.mode, PoolMode::Transaction);
    assert_eq!(c.pool_mode("app"), PoolMode::Session);
    assert_eq!(c.pool_mode("other"), PoolMode::Transaction);
    assert_eq!(c.pool.server_lifetime, Duration::from_secs(600));
    let e = err(&format!("{MINIMAL}\n[pool]\nmode = \"statement\"\n"));
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
