//! A raw protocol client (md5 user), to choose statement names by hand:
//! tokio-postgres numbers its statements process-wide, so two of its
//! clients never send the same name.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::md5_login;

pub struct Raw(TcpStream);

/// What one request returned: first column of each row, SQLSTATEs.
#[derive(Debug, Default)]
pub struct Reply {
    pub rows: Vec<String>,
    pub errors: Vec<String>,
}

fn frame(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![tag];
    m.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    m.extend_from_slice(body);
    m
}

fn cstr(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

pub fn parse(name: &str, sql: &str) -> Vec<u8> {
    let mut b = cstr(name);
    b.extend(cstr(sql));
    b.extend([0, 0]);
    frame(b'P', &b)
}

/// Bind (no parameters, text results) + Execute of the unnamed portal.
pub fn run(name: &str) -> Vec<u8> {
    let mut b = cstr("");
    b.extend(cstr(name));
    b.extend([0, 0, 0, 0, 0, 0]);
    let mut m = frame(b'B', &b);
    let mut e = cstr("");
    e.extend([0, 0, 0, 0]);
    m.extend(frame(b'E', &e));
    m
}

pub fn close(name: &str) -> Vec<u8> {
    let mut b = vec![b'S'];
    b.extend(cstr(name));
    frame(b'C', &b)
}

pub fn describe(name: &str) -> Vec<u8> {
    let mut b = vec![b'S'];
    b.extend(cstr(name));
    frame(b'D', &b)
}

pub fn flush() -> Vec<u8> {
    frame(b'H', &[])
}

pub fn sync() -> Vec<u8> {
    frame(b'S', &[])
}

pub fn query(sql: &str) -> Vec<u8> {
    frame(b'Q', &cstr(sql))
}

impl Raw {
    pub async fn connect(port: u16) -> Raw {
        let s = md5_login(port).await;
        let mut raw = Raw(s);
        let r = raw.read_reply().await;
        assert!(r.errors.is_empty(), "{r:?}");
        raw
    }

    /// Sends `msgs` (ending in Sync or a Query) and reads up to ReadyForQuery.
    pub async fn send(&mut self, msgs: &[Vec<u8>]) -> Reply {
        self.0.write_all(&msgs.concat()).await.unwrap();
        self.read_reply().await
    }

    /// Sends `msgs` without reading anything.
    pub async fn write(&mut self, msgs: &[Vec<u8>]) {
        self.0.write_all(&msgs.concat()).await.unwrap();
    }

    /// Reads messages up to and including one tagged `last`; returns the tags.
    pub async fn read_until(&mut self, last: u8) -> Vec<u8> {
        let mut tags = Vec::new();
        loop {
            let mut head = [0u8; 5];
            self.0.read_exact(&mut head).await.unwrap();
            let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
            let mut body = vec![0u8; len - 4];
            self.0.read_exact(&mut body).await.unwrap();
            tags.push(head[0]);
            if head[0] == last {
                return tags;
            }
        }
    }

    async fn read_reply(&mut self) -> Reply {
        let mut reply = Reply::default();
        loop {
            let mut head = [0u8; 5];
            self.0.read_exact(&mut head).await.unwrap();
            let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
            let mut body = vec![0u8; len - 4];
            self.0.read_exact(&mut body).await.unwrap();
            match head[0] {
                b'Z' => return reply,
                b'D' => {
                    let n = i32::from_be_bytes([body[2], body[3], body[4], body[5]]);
                    let v = if n < 0 {
                        String::new()
                    } else {
                        String::from_utf8_lossy(&body[6..6 + n as usize]).into_owned()
                    };
                    reply.rows.push(v);
                }
                b'E' => {
                    let code = body
                        .split(|&b| b == 0)
                        .find(|f| f.first() == Some(&b'C'))
                        .map(|f| String::from_utf8_lossy(&f[1..]).into_owned())
                        .unwrap_or_default();
                    reply.errors.push(code);
                }
                _ => {}
            }
        }
    }
}
