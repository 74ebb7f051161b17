//! A raw protocol client (md5 user), to choose statement names by hand:
//! tokio-postgres numbers its statements process-wide, so two of its
//! clients never send the same name.

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

pub use crate::support::raw::query;
use crate::support::raw::{cstr, error_code, first_column, frame, md5_session, read_message};
use crate::support::{cluster, ensure_md5_user};

pub struct Raw(TcpStream);

/// What one request returned: first column of each row, SQLSTATEs.
#[derive(Debug, Default)]
pub struct Reply {
    pub rows: Vec<String>,
    pub errors: Vec<String>,
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

impl Raw {
    pub async fn connect(port: u16) -> Raw {
        ensure_md5_user(cluster());
        match md5_session(port).await {
            Ok(s) => Raw(s),
            Err(e) => panic!("md5 login: {e}"),
        }
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
            let (tag, _) = read_message(&mut self.0).await.unwrap();
            tags.push(tag);
            if tag == last {
                return tags;
            }
        }
    }

    /// Reads up to the `n`th CommandComplete (a batch sent with Flush);
    /// returns the first column of each row.
    pub async fn rows_through(&mut self, n: usize) -> Vec<String> {
        let (mut rows, mut done) = (Vec::new(), 0);
        while done < n {
            let (tag, body) = read_message(&mut self.0).await.unwrap();
            match tag {
                b'D' => rows.push(first_column(&body)),
                b'C' => done += 1,
                b'E' => panic!("error {:?}", error_code(&body)),
                _ => {}
            }
        }
        rows
    }

    async fn read_reply(&mut self) -> Reply {
        let mut reply = Reply::default();
        loop {
            let (tag, body) = read_message(&mut self.0).await.unwrap();
            match tag {
                b'Z' => return reply,
                b'D' => reply.rows.push(first_column(&body)),
                b'E' => reply.errors.push(error_code(&body).unwrap_or_default()),
                _ => {}
            }
        }
    }
}
