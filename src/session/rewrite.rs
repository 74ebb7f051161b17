//! Statement names rewritten on the way to the backend: a client's named
//! statement becomes the proxy's content-derived server name
//! (`backend::statements`) in Parse, Bind, Describe and Close.
//!
//! Each function takes a whole frame (tag, length, body) and returns (or
//! appends to the batch) the frame with the name replaced, or `None` when
//! the frame is malformed.

use bytes::{BufMut, BytesMut};

use crate::protocol::messages::{cstr, put_frame};

/// Parse: `name\0 query\0 types…` → `new\0 query\0 types…`.
pub fn parse(frame: &[u8], new: &str) -> Option<BytesMut> {
    let (_, rest) = cstr(frame.get(5..)?)?;
    Some(frame_of(frame[0], |b| {
        put_cstr(b, new);
        b.put_slice(rest);
    }))
}

/// Parse with another query text: `name\0 query\0 types…` → `name\0 new\0 types…`.
pub fn parse_sql(frame: &[u8], new: &str) -> Option<BytesMut> {
    let (name, rest) = cstr(frame.get(5..)?)?;
    let (_, rest) = cstr(rest)?;
    Some(frame_of(frame[0], |b| {
        put_cstr(b, name);
        put_cstr(b, new);
        b.put_slice(rest);
    }))
}

/// The part of a Parse body a statement's identity derives from: the text
/// and parameter types, without the client's name.
pub fn parse_content(frame: &[u8]) -> Option<&[u8]> {
    cstr(frame.get(5..)?).map(|(_, rest)| rest)
}

/// Bind: `portal\0 stmt\0 rest` → `portal\0 new\0 rest`.
/// Appended to `out`, which is where the rewritten message goes (the batch).
/// The names are split on bytes: the caller has read them already.
pub fn bind(out: &mut BytesMut, frame: &[u8], new: &str) -> Option<()> {
    let (portal, rest) = through_nul(frame.get(5..)?)?;
    let (_, rest) = through_nul(rest)?;
    out.reserve(frame.len() + new.len());
    put_frame(out, frame[0], |b| {
        b.put_slice(portal);
        put_cstr(b, new);
        b.put_slice(rest);
    });
    Some(())
}

/// `b` split after its first NUL (kept on the left).
fn through_nul(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let nul = b.iter().position(|&c| c == 0)?;
    Some(b.split_at(nul + 1))
}

/// Describe / Close of a statement: `S name\0` → `S new\0`, appended to `out`.
pub fn target(out: &mut BytesMut, frame: &[u8], new: &str) -> Option<()> {
    let kind = *frame.get(5)?;
    put_frame(out, frame[0], |b| {
        b.put_u8(kind);
        put_cstr(b, new);
    });
    Some(())
}

fn frame_of(tag: u8, fill: impl FnOnce(&mut BytesMut)) -> BytesMut {
    let mut out = BytesMut::new();
    put_frame(&mut out, tag, fill);
    out
}

fn put_cstr(b: &mut BytesMut, s: &str) {
    b.put_slice(s.as_bytes());
    b.put_u8(0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::messages;

    fn framed(tag: u8, body: &[u8]) -> BytesMut {
        frame_of(tag, |b| b.put_slice(body))
    }

    #[test]
    fn names_are_replaced_and_the_rest_kept() {
        let p = framed(b'P', b"s1\0SELECT $1\0\0\x01\0\0\0\x17");
        let out = parse(&p, "pgsplit_x").unwrap();
        assert_eq!(
            messages::parse_names(&out[5..]),
            Some(("pgsplit_x", "SELECT $1"))
        );
        assert_eq!(&out[out.len() - 6..], b"\0\x01\0\0\0\x17");
        assert_eq!(parse_content(&p), Some(&b"SELECT $1\0\0\x01\0\0\0\x17"[..]));

        let b = framed(b'B', b"p\0s1\0\0\0\0\0\0\0");
        // Appended after what the batch already holds.
        let mut out = BytesMut::from(&b"XY"[..]);
        bind(&mut out, &b, "pgsplit_x").unwrap();
        assert_eq!(&out[..2], b"XY");
        assert_eq!(messages::bind_names(&out[7..]), Some(("p", "pgsplit_x")));
        assert_eq!(out.len(), 2 + b.len() + "pgsplit_x".len() - 2);

        let d = framed(b'D', b"Ss1\0");
        let mut out = BytesMut::new();
        target(&mut out, &d, "pgsplit_x").unwrap();
        assert_eq!(messages::target(&out[5..]), Some((b'S', "pgsplit_x")));

        let out = parse_sql(&p, "DEALLOCATE x").unwrap();
        assert_eq!(
            messages::parse_names(&out[5..]),
            Some(("s1", "DEALLOCATE x"))
        );
        assert_eq!(&out[out.len() - 6..], b"\0\x01\0\0\0\x17");

        assert!(parse(&framed(b'P', b"no-nul"), "x").is_none());
    }
}
