//! What comes before the startup packet: SSLRequest and GSSENCRequest
//! answers, PostgreSQL 17 direct TLS, and the CancelRequest or startup
//! packet itself (possibly inside TLS).

use super::client::ClientConn;
use crate::error::ClientError;
use crate::protocol::startup::FirstPacket;
use crate::tls::server::ClientTls;
use crate::tls::{ALPN_POSTGRESQL, TLS_HANDSHAKE_RECORD};

/// The connection (upgraded to TLS if that was negotiated) and its first
/// packet that is not an encryption request.
pub async fn first_packet(
    mut client: ClientConn,
    tls: &ClientTls,
) -> Result<(ClientConn, FirstPacket), ClientError> {
    if client.peek_first_byte().await? == TLS_HANDSHAKE_RECORD {
        let Some(acceptor) = tls.acceptor() else {
            return Err(ClientError::Tls(
                "client started TLS directly, but TLS is disabled ([tls] mode)".into(),
            ));
        };
        client = client.start_tls(acceptor).await?;
        // As PostgreSQL 17: direct TLS is accepted only from a client that
        // says, by ALPN, that it speaks the PostgreSQL protocol inside.
        if client.stream.alpn() != Some(ALPN_POSTGRESQL) {
            return Err(ClientError::Tls(
                "direct TLS without ALPN \"postgresql\": connection closed".into(),
            ));
        }
    }
    loop {
        match client.read_first().await? {
            FirstPacket::SslRequest => match tls.acceptor() {
                Some(acceptor) if !client.stream.is_tls() => {
                    client.write_byte(b'S').await?;
                    client = client.start_tls(acceptor).await?;
                }
                _ => client.write_byte(b'N').await?,
            },
            // GSS encryption is not offered: `N` tells the client to go on.
            FirstPacket::GssEncRequest => client.write_byte(b'N').await?,
            other => return Ok((client, other)),
        }
    }
}
