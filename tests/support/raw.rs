//! A raw-socket client (md5 by hand, so no PBKDF2 on the client side):
//! for hostile clients and for thousands of cheap connections.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub fn startup_packet(params: &[(&str, &str)]) -> Vec<u8> {
    let mut body = 196_608u32.to_be_bytes().to_vec();
    for (k, v) in params {
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut p = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    p.extend(body);
    p
}

pub fn query(sql: &str) -> Vec<u8> {
    let mut q = vec![b'Q'];
    q.extend_from_slice(&((sql.len() + 5) as u32).to_be_bytes());
    q.extend_from_slice(sql.as_bytes());
    q.push(0);
    q
}

pub const TERMINATE: [u8; 5] = [b'X', 0, 0, 0, 4];

/// Reads whole messages until a ReadyForQuery; returns every message as
/// (tag, body).
pub async fn read_until_ready(s: &mut TcpStream) -> std::io::Result<Vec<(u8, Vec<u8>)>> {
    let mut out = Vec::new();
    loop {
        let mut head = [0u8; 5];
        s.read_exact(&mut head).await?;
        let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        if !(4..=64 << 20).contains(&len) {
            return Err(std::io::Error::other(format!("bad length {len}")));
        }
        let mut body = vec![0u8; len - 4];
        s.read_exact(&mut body).await?;
        let ready = head[0] == b'Z';
        out.push((head[0], body));
        if ready {
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
    let mut msg = vec![b'p'];
    msg.extend_from_slice(&((hash.len() + 5) as u32).to_be_bytes());
    msg.extend_from_slice(hash.as_bytes());
    msg.push(0);
    s.write_all(&msg).await?;
    let got = read_until_ready(&mut s).await?;
    if let Some((_, body)) = got.iter().find(|(t, _)| *t == b'E') {
        return Err(std::io::Error::other(format!(
            "login refused: {:?}",
            error_code(body)
        )));
    }
    Ok(s)
}
