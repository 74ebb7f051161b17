//! CancelRequest routing. Each session gets the proxy's own (pid, secret) key
//! and a slot naming the backend connection running its request right now;
//! a CancelRequest carrying the proxy key is re-sent to that backend with the
//! backend's own key.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use rand::RngCore;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::backend::CancelKey;
use crate::protocol::messages;
use crate::tls::backend::negotiate;

/// Where a session's current request runs.
pub type CancelSlot = Arc<Mutex<Option<CancelKey>>>;

#[derive(Default)]
pub struct CancelRegistry {
    sessions: Mutex<HashMap<u32, (u32, CancelSlot)>>,
}

/// Unregisters the key when the session ends.
pub struct Registration {
    pub pid: u32,
    pub secret: u32,
    pub slot: CancelSlot,
    registry: Arc<CancelRegistry>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut map = self
            .registry
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        map.remove(&self.pid);
    }
}

impl CancelRegistry {
    pub fn register(self: &Arc<Self>) -> Registration {
        let mut rng = rand::rng();
        let slot: CancelSlot = Arc::default();
        let mut map = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let (pid, secret) = loop {
            // Positive, like a real PID, so no client mistakes it for a flag.
            let pid = rng.next_u32() & 0x7fff_ffff;
            if pid != 0 && !map.contains_key(&pid) {
                break (pid, rng.next_u32());
            }
        };
        map.insert(pid, (secret, slot.clone()));
        Registration {
            pid,
            secret,
            slot,
            registry: self.clone(),
        }
    }

    /// The backend key for a client's cancel, if the proxy key matches.
    pub fn lookup(&self, pid: u32, secret: &[u8]) -> Option<CancelKey> {
        let map = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let (expected, slot) = map.get(&pid)?;
        if secret != expected.to_be_bytes() {
            return None;
        }
        let key = slot.lock().unwrap_or_else(|p| p.into_inner()).clone();
        key
    }
}

/// Sends a CancelRequest to a backend, over TLS when that backend's
/// connections use it. Best effort, like libpq's.
pub async fn send(key: &CancelKey) -> std::io::Result<()> {
    let mut buf = BytesMut::with_capacity(16);
    messages::cancel_request(&mut buf, key.pid, &key.secret);
    let fut = async {
        let s = TcpStream::connect(key.addr).await?;
        let mut s = negotiate(s, key.tls.as_deref(), &key.addr.to_string())
            .await
            .map_err(std::io::Error::other)?;
        s.write_all(&buf).await?;
        s.flush().await?;
        s.shutdown().await
    };
    tokio::time::timeout(Duration::from_secs(5), fut)
        .await
        .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_needs_the_right_secret_and_ends_with_the_session() {
        let reg = Arc::new(CancelRegistry::default());
        let r = reg.register();
        let key = CancelKey {
            addr: "127.0.0.1:5432".parse().unwrap(),
            pid: 77,
            secret: Arc::from(&[1, 2, 3, 4][..]),
            tls: None,
        };
        *r.slot.lock().unwrap() = Some(key.clone());
        assert_eq!(reg.lookup(r.pid, &r.secret.to_be_bytes()), Some(key));
        assert_eq!(
            reg.lookup(r.pid, &r.secret.wrapping_add(1).to_be_bytes()),
            None
        );
        let pid = r.pid;
        let secret = r.secret;
        drop(r);
        assert_eq!(reg.lookup(pid, &secret.to_be_bytes()), None);
    }
}
