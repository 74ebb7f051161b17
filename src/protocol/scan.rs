//! Frame-header scanning for relays.
//!
//! A relay forwards most messages (DataRow, CopyData, RowDescription…) as
//! opaque bytes; it only needs a few whole (ReadyForQuery, ParameterStatus…).
//! [`Scanner`] walks a buffer header by header, remembers how much of a
//! passed-through message is still to come across reads, and never allocates
//! from a declared length: a message it must see whole is checked against a
//! limit before the caller reserves room for it.

use super::ProtocolError;

/// What lies at the scan position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// `buf[pos..end]` is message data to relay unchanged.
    Pass { end: usize },
    /// A whole message the caller wants: `buf[start..end]`, tag and length included.
    Whole { tag: u8, start: usize, end: usize },
    /// Nothing more until more bytes arrive; `need` is the total buffered
    /// length from the scan position that the next step requires.
    NeedMore { need: usize },
}

#[derive(Debug, Clone, Copy)]
pub struct Scanner {
    /// Bytes of a passed-through message body not yet seen.
    streaming: usize,
    /// Largest message the caller is willing to hold whole.
    limit: usize,
}

pub const HEADER: usize = 5;

impl Scanner {
    pub fn new(limit: usize) -> Scanner {
        Scanner {
            streaming: 0,
            limit,
        }
    }

    /// True when the previous message was passed through completely.
    pub fn at_boundary(&self) -> bool {
        self.streaming == 0
    }

    /// Scans from `pos`; `whole(tag)` says which messages the caller must see
    /// whole. Pass-through runs are coalesced into one [`Event::Pass`].
    pub fn next(
        &mut self,
        buf: &[u8],
        pos: usize,
        whole: impl Fn(u8) -> bool,
    ) -> Result<Event, ProtocolError> {
        let mut at = pos;
        loop {
            if self.streaming > 0 {
                let n = self.streaming.min(buf.len() - at);
                self.streaming -= n;
                at += n;
                if self.streaming > 0 {
                    return Ok(pass_or_more(pos, at, HEADER));
                }
                continue;
            }
            let avail = buf.len() - at;
            if avail < HEADER {
                return Ok(pass_or_more(pos, at, HEADER - avail));
            }
            let tag = buf[at];
            let len =
                u32::from_be_bytes([buf[at + 1], buf[at + 2], buf[at + 3], buf[at + 4]]) as usize;
            if len < 4 {
                return Err(ProtocolError::BadLength {
                    tag: tag as char,
                    len,
                });
            }
            if whole(tag) {
                if at > pos {
                    // Relay what precedes it first; the caller comes back here.
                    return Ok(Event::Pass { end: at });
                }
                if len > self.limit {
                    return Err(ProtocolError::TooLarge {
                        tag: tag as char,
                        len,
                        limit: self.limit,
                    });
                }
                let end = at + 1 + len;
                if buf.len() < end {
                    return Ok(Event::NeedMore { need: 1 + len });
                }
                return Ok(Event::Whole {
                    tag,
                    start: at,
                    end,
                });
            }
            self.streaming = len - 4;
            at += HEADER;
        }
    }
}

fn pass_or_more(pos: usize, at: usize, need: usize) -> Event {
    if at > pos {
        Event::Pass { end: at }
    } else {
        Event::NeedMore { need }
    }
}

/// Reads a message's body, given a `Whole` event's bounds.
pub fn body(buf: &[u8], start: usize, end: usize) -> &[u8] {
    &buf[start + HEADER..end]
}

#[cfg(test)]
#[path = "scan_props.rs"]
mod props;

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![tag];
        v.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
        v.extend_from_slice(body);
        v
    }

    fn is_z(t: u8) -> bool {
        t == b'Z'
    }

    #[test]
    fn coalesces_pass_through_then_stops_at_wanted() {
        let mut buf = msg(b'D', b"row1");
        buf.extend(msg(b'D', b"row2"));
        let z_at = buf.len();
        buf.extend(msg(b'Z', b"I"));
        let mut s = Scanner::new(1024);
        assert_eq!(s.next(&buf, 0, is_z).unwrap(), Event::Pass { end: z_at });
        assert_eq!(
            s.next(&buf, z_at, is_z).unwrap(),
            Event::Whole {
                tag: b'Z',
                start: z_at,
                end: buf.len()
            }
        );
        assert_eq!(body(&buf, z_at, buf.len()), b"I");
    }

    #[test]
    fn streams_a_message_split_across_reads() {
        let full = msg(b'D', &[7u8; 100]);
        let mut s = Scanner::new(16);
        // first read: header and 10 bytes of body
        assert_eq!(
            s.next(&full[..15], 0, is_z).unwrap(),
            Event::Pass { end: 15 }
        );
        assert!(!s.at_boundary());
        // second read holds the rest; positions restart in a fresh buffer
        let rest = &full[15..];
        assert_eq!(
            s.next(rest, 0, is_z).unwrap(),
            Event::Pass { end: rest.len() }
        );
        assert!(s.at_boundary());
    }

    #[test]
    fn partial_header_waits() {
        let full = msg(b'Z', b"T");
        let mut s = Scanner::new(16);
        assert_eq!(
            s.next(&full[..3], 0, is_z).unwrap(),
            Event::NeedMore { need: 2 }
        );
        assert_eq!(
            s.next(&full[..5], 0, is_z).unwrap(),
            Event::NeedMore { need: 6 }
        );
    }

    #[test]
    fn oversized_wanted_message_is_an_error_before_any_allocation() {
        let mut buf = vec![b'Z'];
        buf.extend_from_slice(&(1u32 << 30).to_be_bytes());
        let mut s = Scanner::new(1 << 20);
        assert!(matches!(
            s.next(&buf, 0, is_z),
            Err(ProtocolError::TooLarge { .. })
        ));
    }

    #[test]
    fn length_below_four_is_malformed() {
        let buf = [b'D', 0, 0, 0, 3];
        let mut s = Scanner::new(16);
        assert!(matches!(
            s.next(&buf, 0, is_z),
            Err(ProtocolError::BadLength { .. })
        ));
    }

    #[test]
    fn huge_pass_through_message_streams_without_limit() {
        let mut buf = vec![b'd'];
        buf.extend_from_slice(&(1u32 << 30).to_be_bytes());
        buf.extend_from_slice(&[0u8; 10]);
        let mut s = Scanner::new(16);
        assert_eq!(s.next(&buf, 0, is_z).unwrap(), Event::Pass { end: 15 });
        assert!(!s.at_boundary());
    }
}
