//! The client's socket (plain or TLS) with its read and write buffers.

use std::net::SocketAddr;

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use crate::error::ClientError;
use crate::protocol::startup::{self, FirstPacket};
use crate::protocol::{tag, ProtocolError};
use crate::tls::Stream;

/// Authentication messages are small; anything larger is not a password.
const MAX_AUTH_MESSAGE: usize = 16 * 1024;

pub struct ClientConn {
    pub stream: Stream,
    pub rbuf: BytesMut,
    pub wbuf: BytesMut,
    pub peer: SocketAddr,
}

impl ClientConn {
    pub fn new(stream: TcpStream, peer: SocketAddr) -> ClientConn {
        ClientConn {
            stream: Stream::Plain(stream),
            // Small to start: thousands of idle clients each hold these
            // (the relay grows them as traffic needs).
            rbuf: BytesMut::with_capacity(2 * 1024),
            wbuf: BytesMut::with_capacity(2 * 1024),
            peer,
        }
    }

    /// Reads until `rbuf` holds at least `n` bytes.
    async fn fill(&mut self, n: usize) -> Result<(), ClientError> {
        while self.rbuf.len() < n {
            self.rbuf.reserve(n - self.rbuf.len());
            if self.stream.read_buf(&mut self.rbuf).await? == 0 {
                return Err(ClientError::Closed);
            }
        }
        Ok(())
    }

    /// The untagged first packet; its length is checked before any buffer
    /// grows for it.
    pub async fn read_first(&mut self) -> Result<FirstPacket, ClientError> {
        self.fill(4).await?;
        let len = startup::check_len(u32::from_be_bytes([
            self.rbuf[0],
            self.rbuf[1],
            self.rbuf[2],
            self.rbuf[3],
        ]))?;
        self.fill(len).await?;
        let packet = self.rbuf.split_to(len);
        Ok(startup::parse(&packet[4..])?)
    }

    /// A PasswordMessage-family message ('p') during authentication.
    pub async fn read_password_message(&mut self) -> Result<Bytes, ClientError> {
        self.fill(5).await?;
        let t = self.rbuf[0];
        let len =
            u32::from_be_bytes([self.rbuf[1], self.rbuf[2], self.rbuf[3], self.rbuf[4]]) as usize;
        if t != tag::PASSWORD {
            return Err(ProtocolError::UnexpectedTag(t as char).into());
        }
        if !(4..=MAX_AUTH_MESSAGE).contains(&len) {
            return Err(ProtocolError::BadLength {
                tag: t as char,
                len,
            }
            .into());
        }
        self.fill(len + 1).await?;
        let mut frame = self.rbuf.split_to(len + 1);
        Ok(frame.split_off(5).freeze())
    }

    pub async fn flush(&mut self) -> Result<(), ClientError> {
        if !self.wbuf.is_empty() {
            self.stream.send_all(&self.wbuf).await?;
            self.wbuf.clear();
        }
        Ok(())
    }

    /// Writes one raw byte (the answer to SSLRequest / GSSENCRequest).
    pub async fn write_byte(&mut self, b: u8) -> Result<(), ClientError> {
        self.stream.send_all(&[b]).await?;
        Ok(())
    }

    /// The first byte the client sent, left unread (0x16 means the client
    /// starts TLS directly instead of with a startup packet).
    pub async fn peek_first_byte(&mut self) -> Result<u8, ClientError> {
        if let Some(&b) = self.rbuf.first() {
            return Ok(b);
        }
        let mut b = [0u8; 1];
        match &self.stream {
            Stream::Plain(s) => {
                if s.peek(&mut b).await? == 0 {
                    return Err(ClientError::Closed);
                }
                Ok(b[0])
            }
            Stream::Tls(_) => Err(ProtocolError::Malformed("startup").into()),
        }
    }

    /// Runs the server side of a TLS handshake on this connection. Nothing
    /// may be buffered: bytes sent in clear before the handshake must not be
    /// taken as sent under encryption.
    pub async fn start_tls(
        self,
        acceptor: &tokio_rustls::TlsAcceptor,
    ) -> Result<ClientConn, ClientError> {
        let ClientConn {
            stream,
            rbuf,
            wbuf,
            peer,
        } = self;
        if !rbuf.is_empty() {
            return Err(ProtocolError::Malformed("unencrypted data after SSLRequest").into());
        }
        let Stream::Plain(tcp) = stream else {
            return Err(ProtocolError::Malformed("SSLRequest inside TLS").into());
        };
        let tls = acceptor
            .accept(tcp)
            .await
            .map_err(|e| ClientError::Tls(format!("handshake with {peer} failed: {e}")))?;
        Ok(ClientConn {
            stream: Stream::Tls(Box::new(tokio_rustls::TlsStream::Server(tls))),
            rbuf,
            wbuf,
            peer,
        })
    }
}
