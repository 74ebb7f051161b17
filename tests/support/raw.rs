//! A raw-socket client (md5 by hand, so no PBKDF2 on the client side):
//! for hostile clients, for thousands of cheap connections, and for the
//! tests that choose statement names or speak TLS themselves. Messages are
//! built and read here; each test adds only what is its own.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Protocol 3.0, as every client sends it.
pub const PROTOCOL_3_0: u32 = 196_608;

/// A message: tag, length, body.
pub fn frame(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![tag];
    m.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    m.extend_from_slice(body);
    m
}

/// A NUL-terminated string.
pub fn cstr(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

/// A StartupMessage for protocol 3.0.
pub fn startup_packet(params: &[(&str, &str)]) -> Vec<u8> {
    startup_packet_version(PROTOCOL_3_0, params)
}

/// A StartupMessage claiming `version` (to test negotiation).
pub fn startup_packet_version(version: u32, params: &[(&str, &str)]) -> Vec<u8> {
    let mut body = version.to_be_bytes().to_vec();
    for (k, v) in params {
        body.extend(cstr(k));
        body.extend(cstr(v));
    }
    body.push(0);
    let mut p = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    p.extend(body);
    p
}

/// A simple Query.
pub fn query(sql: &str) -> Vec<u8> {
    frame(b'Q', &cstr(sql))
}

pub const TERMINATE: [u8; 5] = [b'X', 0, 0, 0, 4];

/// Reads one whole message as (tag, body). A length the protocol cannot
/// have is an error, not an allocation.
pub async fn read_message<S: AsyncRead + Unpin>(s: &mut S) -> std::io::Result<(u8, Vec<u8>)> {
    let mut head = [0u8; 5];
    s.read_exact(&mut head).await?;
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    if !(4..=64 << 20).contains(&len) {
        return Err(std::io::Error::other(format!("bad length {len}")));
    }
    let mut body = vec![0u8; len - 4];
    s.read_exact(&mut body).await?;
    Ok((head[0], body))
}

/// Reads whole messages until a ReadyForQuery; returns every message as
/// (tag, body).
pub async fn read_until_ready<S: AsyncRead + Unpin>(
    s: &mut S,
) -> std::io::Result<Vec<(u8, Vec<u8>)>> {
    let mut out = Vec::new();
    loop {
        let (tag, body) = read_message(s).await?;
        out.push((tag, body));
        if tag == b'Z' {
            return Ok(out);
        }
    }
}

/// The SQLSTATE of an ErrorResponse body.
pub fn error_code(body: &[u8]) -> Option<String> {
    body.split(|&b| b == 0)
        .find_map(|f| f.strip_prefix(b"C"))
        .map(|c| String::from_utf8_lossy(c).into_owned())
}

/// The first column of a DataRow body as text (NULL as "").
pub fn first_column(body: &[u8]) -> String {
    let n = i32::from_be_bytes([body[2], body[3], body[4], body[5]]);
    match usize::try_from(n) {
        Ok(n) => String::from_utf8_lossy(&body[6..6 + n]).into_owned(),
        Err(_) => String::new(),
    }
}

/// Logs in as `md5user` (the role must exist: [`super::ensure_md5_user`])
/// and reads up to the first ReadyForQuery.
pub async fn md5_session(port: u16) -> std::io::Result<TcpStream> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await?;
    s.write_all(&startup_packet(&[
        ("user", "md5user"),
        ("database", super::DATABASE),
    ]))
    .await?;
    let mut head = [0u8; 9];
    s.read_exact(&mut head).await?;
    if (head[0], head[8]) != (b'R', 5) {
        return Err(std::io::Error::other(format!("no md5 request: {head:?}")));
    }
    let mut salt = [0u8; 4];
    s.read_exact(&mut salt).await?;
    let hash = pgwire::api::auth::md5pass::hash_md5_password("md5user", super::PASSWORD, &salt);
    s.write_all(&frame(b'p', &cstr(&hash))).await?;
    let got = read_until_ready(&mut s).await?;
    if let Some((_, body)) = got.iter().find(|(t, _)| *t == b'E') {
        return Err(std::io::Error::other(format!(
            "login refused: {:?}",
            error_code(body)
        )));
    }
    Ok(s)
}
