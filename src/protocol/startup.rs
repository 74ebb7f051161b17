//! The untagged first packet a client sends.

use super::ProtocolError;

/// Largest untagged packet accepted (the server's own limit, pqcomm.h).
pub const MAX_STARTUP_LEN: usize = 10_000;

const SSL_REQUEST: u32 = 80_877_103;
const GSSENC_REQUEST: u32 = 80_877_104;
const CANCEL_REQUEST: u32 = 80_877_102;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirstPacket {
    SslRequest,
    GssEncRequest,
    Cancel {
        pid: u32,
        secret: Vec<u8>,
    },
    Startup {
        minor: u16,
        params: Vec<(String, String)>,
    },
}

/// Validates the 4-byte length header of an untagged packet.
pub fn check_len(len: u32) -> Result<usize, ProtocolError> {
    let len = len as usize;
    if !(8..=MAX_STARTUP_LEN).contains(&len) {
        return Err(ProtocolError::BadLength { tag: '\0', len });
    }
    Ok(len)
}

/// Parses a packet body (everything after the length word).
pub fn parse(body: &[u8]) -> Result<FirstPacket, ProtocolError> {
    let code = read_u32(body, 0).ok_or(ProtocolError::Malformed("startup"))?;
    match code {
        SSL_REQUEST if body.len() == 4 => Ok(FirstPacket::SslRequest),
        GSSENC_REQUEST if body.len() == 4 => Ok(FirstPacket::GssEncRequest),
        CANCEL_REQUEST => {
            let pid = read_u32(body, 4).ok_or(ProtocolError::Malformed("CancelRequest"))?;
            let secret = body[8..].to_vec();
            if secret.is_empty() || secret.len() > 256 {
                return Err(ProtocolError::Malformed("CancelRequest"));
            }
            Ok(FirstPacket::Cancel { pid, secret })
        }
        _ => {
            let major = (code >> 16) as u16;
            let minor = (code & 0xffff) as u16;
            if major != 3 {
                return Err(ProtocolError::UnsupportedVersion { major, minor });
            }
            Ok(FirstPacket::Startup {
                minor,
                params: parse_params(&body[4..])?,
            })
        }
    }
}

fn parse_params(mut rest: &[u8]) -> Result<Vec<(String, String)>, ProtocolError> {
    let mut params = Vec::new();
    loop {
        let (key, after) = cstr(rest).ok_or(ProtocolError::Malformed("StartupMessage"))?;
        if key.is_empty() {
            return Ok(params);
        }
        let (value, after) = cstr(after).ok_or(ProtocolError::Malformed("StartupMessage"))?;
        params.push((key.to_owned(), value.to_owned()));
        rest = after;
    }
}

fn cstr(b: &[u8]) -> Option<(&str, &[u8])> {
    let nul = b.iter().position(|&c| c == 0)?;
    let s = std::str::from_utf8(&b[..nul]).ok()?;
    Some((s, &b[nul + 1..]))
}

fn read_u32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 4)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_startup_params() {
        let mut body = 196608u32.to_be_bytes().to_vec();
        body.extend_from_slice(b"user\0app\0database\0db\0\0");
        assert_eq!(
            parse(&body).unwrap(),
            FirstPacket::Startup {
                minor: 0,
                params: vec![
                    ("user".into(), "app".into()),
                    ("database".into(), "db".into())
                ]
            }
        );
    }

    #[test]
    fn recognises_requests() {
        assert_eq!(
            parse(&SSL_REQUEST.to_be_bytes()).unwrap(),
            FirstPacket::SslRequest
        );
        assert_eq!(
            parse(&GSSENC_REQUEST.to_be_bytes()).unwrap(),
            FirstPacket::GssEncRequest
        );
        let mut c = CANCEL_REQUEST.to_be_bytes().to_vec();
        c.extend_from_slice(&7u32.to_be_bytes());
        c.extend_from_slice(&9u32.to_be_bytes());
        assert_eq!(
            parse(&c).unwrap(),
            FirstPacket::Cancel {
                pid: 7,
                secret: 9u32.to_be_bytes().to_vec()
            }
        );
    }

    #[test]
    fn rejects_truncated_and_foreign_packets() {
        let mut body = 196608u32.to_be_bytes().to_vec();
        body.extend_from_slice(b"user\0app");
        assert!(parse(&body).is_err());
        assert!(parse(b"GET / HTTP/1.1").is_err());
        assert!(parse(&[0, 1]).is_err());
        assert!(check_len(1 << 30).is_err());
        assert!(check_len(3).is_err());
        assert_eq!(check_len(8).unwrap(), 8);
    }
}
