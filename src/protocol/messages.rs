//! Encoders for messages pgsplit writes itself, and bounds-checked readers for
//! the few fields it needs from messages it relays. Readers return `None` on
//! malformed input; they never panic on network data.

use bytes::{BufMut, BytesMut};

use super::tag;

/// Appends one tagged message whose body `fill` writes.
pub fn put_frame(buf: &mut BytesMut, tag: u8, fill: impl FnOnce(&mut BytesMut)) {
    buf.put_u8(tag);
    let len_at = buf.len();
    buf.put_u32(0);
    fill(buf);
    let len = (buf.len() - len_at) as u32;
    buf[len_at..len_at + 4].copy_from_slice(&len.to_be_bytes());
}

pub fn put_cstr(buf: &mut BytesMut, s: &str) {
    buf.put_slice(s.as_bytes());
    buf.put_u8(0);
}

/// ErrorResponse (or NoticeResponse with `tag::NOTICE_RESPONSE`).
pub fn error(buf: &mut BytesMut, severity: &str, code: &str, message: &str) {
    put_frame(buf, tag::ERROR_RESPONSE, |b| {
        b.put_u8(b'S');
        put_cstr(b, severity);
        b.put_u8(b'V');
        put_cstr(b, severity);
        b.put_u8(b'C');
        put_cstr(b, code);
        b.put_u8(b'M');
        put_cstr(b, message);
        b.put_u8(0);
    });
}

pub fn auth_ok(buf: &mut BytesMut) {
    put_frame(buf, tag::AUTHENTICATION, |b| b.put_u32(0));
}

pub fn auth_md5(buf: &mut BytesMut, salt: [u8; 4]) {
    put_frame(buf, tag::AUTHENTICATION, |b| {
        b.put_u32(5);
        b.put_slice(&salt);
    });
}

/// AuthenticationSASL listing `mechanisms`, most preferred first.
pub fn auth_sasl(buf: &mut BytesMut, mechanisms: &[&str]) {
    put_frame(buf, tag::AUTHENTICATION, |b| {
        b.put_u32(10);
        for m in mechanisms {
            put_cstr(b, m);
        }
        b.put_u8(0);
    });
}

pub fn auth_sasl_continue(buf: &mut BytesMut, data: &[u8]) {
    put_frame(buf, tag::AUTHENTICATION, |b| {
        b.put_u32(11);
        b.put_slice(data);
    });
}

pub fn auth_sasl_final(buf: &mut BytesMut, data: &[u8]) {
    put_frame(buf, tag::AUTHENTICATION, |b| {
        b.put_u32(12);
        b.put_slice(data);
    });
}

pub fn parameter_status(buf: &mut BytesMut, name: &str, value: &str) {
    put_frame(buf, tag::PARAMETER_STATUS, |b| {
        put_cstr(b, name);
        put_cstr(b, value);
    });
}

pub fn backend_key_data(buf: &mut BytesMut, pid: u32, secret: u32) {
    put_frame(buf, tag::BACKEND_KEY_DATA, |b| {
        b.put_u32(pid);
        b.put_u32(secret);
    });
}

pub fn ready_for_query(buf: &mut BytesMut, status: u8) {
    put_frame(buf, tag::READY_FOR_QUERY, |b| b.put_u8(status));
}

pub fn negotiate_protocol_version(buf: &mut BytesMut, minor: u32, unrecognized: &[&str]) {
    put_frame(buf, tag::NEGOTIATE_PROTOCOL_VERSION, |b| {
        b.put_u32(minor);
        b.put_u32(unrecognized.len() as u32);
        for o in unrecognized {
            put_cstr(b, o);
        }
    });
}

pub fn query(buf: &mut BytesMut, sql: &str) {
    put_frame(buf, tag::QUERY, |b| put_cstr(b, sql));
}

/// Close of a prepared statement (the proxy's own housekeeping).
pub fn close_statement(buf: &mut BytesMut, name: &str) {
    put_frame(buf, tag::CLOSE, |b| {
        b.put_u8(b'S');
        put_cstr(b, name);
    });
}

pub fn terminate(buf: &mut BytesMut) {
    put_frame(buf, tag::TERMINATE, |_| {});
}

/// A PasswordMessage (cleartext or md5 hash).
pub fn password(buf: &mut BytesMut, password: &str) {
    put_frame(buf, tag::PASSWORD, |b| put_cstr(b, password));
}

pub fn sasl_initial_response(buf: &mut BytesMut, mechanism: &str, data: &[u8]) {
    put_frame(buf, tag::PASSWORD, |b| {
        put_cstr(b, mechanism);
        b.put_u32(data.len() as u32);
        b.put_slice(data);
    });
}

pub fn sasl_response(buf: &mut BytesMut, data: &[u8]) {
    put_frame(buf, tag::PASSWORD, |b| b.put_slice(data));
}

/// Untagged StartupMessage, protocol 3.0.
pub fn startup(buf: &mut BytesMut, params: &[(&str, &str)]) {
    let len_at = buf.len();
    buf.put_u32(0);
    buf.put_u32(196_608);
    for (k, v) in params {
        put_cstr(buf, k);
        put_cstr(buf, v);
    }
    buf.put_u8(0);
    let len = (buf.len() - len_at) as u32;
    buf[len_at..len_at + 4].copy_from_slice(&len.to_be_bytes());
}

pub fn cancel_request(buf: &mut BytesMut, pid: u32, secret: &[u8]) {
    buf.put_u32(12 + secret.len() as u32);
    buf.put_u32(80_877_102);
    buf.put_u32(pid);
    buf.put_slice(secret);
}

// ---- readers -------------------------------------------------------------

/// Splits a NUL-terminated UTF-8 string off the front of `b`.
pub fn cstr(b: &[u8]) -> Option<(&str, &[u8])> {
    // CStr finds the NUL with libc's memchr, many bytes at a time.
    let c = std::ffi::CStr::from_bytes_until_nul(b).ok()?.to_bytes();
    let s = std::str::from_utf8(c).ok()?;
    Some((s, &b[c.len() + 1..]))
}

pub fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// Query: the SQL text.
pub fn query_text(body: &[u8]) -> Option<&str> {
    cstr(body).map(|(s, _)| s)
}

/// Parse: statement name and SQL text.
pub fn parse_names(body: &[u8]) -> Option<(&str, &str)> {
    let (name, rest) = cstr(body)?;
    let (sql, _) = cstr(rest)?;
    Some((name, sql))
}

/// Bind: portal and statement names.
pub fn bind_names(body: &[u8]) -> Option<(&str, &str)> {
    let (portal, rest) = cstr(body)?;
    let (stmt, _) = cstr(rest)?;
    Some((portal, stmt))
}

/// Close / Describe: `b'S'` or `b'P'`, and the name.
pub fn target(body: &[u8]) -> Option<(u8, &str)> {
    let (&kind, rest) = body.split_first()?;
    let (name, _) = cstr(rest)?;
    Some((kind, name))
}

/// ParameterStatus: name and value.
pub fn parameter(body: &[u8]) -> Option<(&str, &str)> {
    let (name, rest) = cstr(body)?;
    let (value, _) = cstr(rest)?;
    Some((name, value))
}

/// The fields of an ErrorResponse or NoticeResponse that pgsplit reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorFields {
    pub severity: String,
    pub code: String,
    pub message: String,
}

impl std::fmt::Display for ErrorFields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.severity, self.code, self.message)
    }
}

pub fn error_fields(body: &[u8]) -> ErrorFields {
    let mut out = ErrorFields::default();
    let mut rest = body;
    while let Some((&kind, after)) = rest.split_first() {
        if kind == 0 {
            break;
        }
        let Some((value, after)) = cstr(after) else {
            break;
        };
        match kind {
            b'V' => out.severity = value.to_owned(),
            b'S' if out.severity.is_empty() => out.severity = value.to_owned(),
            b'C' => out.code = value.to_owned(),
            b'M' => out.message = value.to_owned(),
            _ => {}
        }
        rest = after;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_their_length() {
        let mut b = BytesMut::new();
        ready_for_query(&mut b, b'I');
        assert_eq!(&b[..], &[b'Z', 0, 0, 0, 5, b'I']);
    }

    #[test]
    fn error_round_trips() {
        let mut b = BytesMut::new();
        error(&mut b, "FATAL", "28P01", "password authentication failed");
        let f = error_fields(&b[5..]);
        assert_eq!(f.severity, "FATAL");
        assert_eq!(f.code, "28P01");
        assert_eq!(f.message, "password authentication failed");
    }

    #[test]
    fn readers_reject_truncated_input() {
        assert_eq!(query_text(b"select 1"), None);
        assert_eq!(parse_names(b"s1\0select"), None);
        assert_eq!(bind_names(b"\0s1\0rest"), Some(("", "s1")));
        assert_eq!(target(b""), None);
        assert_eq!(target(b"Sname\0"), Some((b'S', "name")));
        assert_eq!(u32_at(b"\0\0", 0), None);
        assert_eq!(error_fields(b"Cxx"), ErrorFields::default());
    }

    #[test]
    fn cancel_request_layout() {
        let mut b = BytesMut::new();
        cancel_request(&mut b, 42, &7u32.to_be_bytes());
        assert_eq!(b.len(), 16);
        assert_eq!(u32_at(&b, 0), Some(16));
        assert_eq!(u32_at(&b, 4), Some(80_877_102));
        assert_eq!(u32_at(&b, 8), Some(42));
    }
}
