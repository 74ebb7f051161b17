//! Socket options for both sides of the proxy.

use std::time::Duration;

use tokio::net::TcpStream;

/// TCP_NODELAY (latency of small request/response pairs) and keepalive:
/// a peer that vanished without a FIN (power loss, a dropped NAT entry)
/// is noticed after about a minute of silence instead of never, whether it
/// is a server behind an idle pooled connection or a client holding one.
pub fn tune(stream: &TcpStream) -> std::io::Result<()> {
    let sock = socket2::SockRef::from(stream);
    sock.set_tcp_nodelay(true)?;
    let ka = socket2::TcpKeepalive::new()
        .with_time(Duration::from_secs(30))
        .with_interval(Duration::from_secs(10))
        .with_retries(3);
    sock.set_tcp_keepalive(&ka)
}

/// Makes closing `stream` reset the connection (SO_LINGER 0): whatever
/// is still queued for the peer is dropped instead of retransmitted until
/// it is delivered, possibly long after the proxy gave up on it.
pub fn reset_on_close(stream: &TcpStream) -> std::io::Result<()> {
    socket2::SockRef::from(stream).set_linger(Some(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn nodelay_and_keepalive_are_set() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        let (_client, (server, _)) = (client.unwrap(), accepted.unwrap());
        tune(&server).unwrap();
        let sock = socket2::SockRef::from(&server);
        assert!(sock.tcp_nodelay().unwrap());
        assert!(sock.keepalive().unwrap());
        assert_eq!(sock.tcp_keepalive_time().unwrap(), Duration::from_secs(30));
        assert_eq!(
            sock.tcp_keepalive_interval().unwrap(),
            Duration::from_secs(10)
        );
        assert_eq!(sock.tcp_keepalive_retries().unwrap(), 3);
    }
}
