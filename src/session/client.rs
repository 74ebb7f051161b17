//! The client's socket with its read and write buffers.

use std::net::SocketAddr;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::error::ClientError;
use crate::protocol::startup::{self, FirstPacket};
use crate::protocol::{tag, ProtocolError};

/// Authentication messages are small; anything larger is not a password.
const MAX_AUTH_MESSAGE: usize = 16 * 1024;

pub struct ClientConn {
    pub stream: TcpStream,
    pub rbuf: BytesMut,
    pub wbuf: BytesMut,
    pub peer: SocketAddr,
}

impl ClientConn {
    pub fn new(stream: TcpStream, peer: SocketAddr) -> ClientConn {
        ClientConn {
            stream,
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
            self.stream.write_all(&self.wbuf).await?;
            self.wbuf.clear();
        }
        Ok(())
    }

    /// Writes one raw byte (the answer to SSLRequest / GSSENCRequest).
    pub async fn write_byte(&mut self, b: u8) -> Result<(), ClientError> {
        self.stream.write_all(&[b]).await?;
        Ok(())
    }
}
