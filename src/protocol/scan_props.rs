//! Property tests: any valid stream of frames, cut into any chunks, comes
//! out of a relay built on [`Scanner`] byte for byte, and exactly the
//! wanted frames are seen whole, in order.

use proptest::prelude::*;

use super::{Event, Scanner};

const TAGS: &[u8] = b"DCZSETdc1tnI";

fn frames() -> impl Strategy<Value = Vec<(u8, Vec<u8>)>> {
    let frame = (
        proptest::sample::select(TAGS),
        proptest::collection::vec(any::<u8>(), 0..300),
    );
    proptest::collection::vec(frame, 0..40)
}

fn encode(frames: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (tag, body) in frames {
        out.push(*tag);
        out.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
        out.extend_from_slice(body);
    }
    out
}

/// Feeds `stream` in chunks of the given sizes (cycled) as a relay does;
/// returns the relayed bytes and the frames seen whole.
fn relay(stream: &[u8], chunks: &[usize], wanted: &[u8]) -> (Vec<u8>, Vec<(u8, Vec<u8>)>) {
    let mut scanner = Scanner::new(1 << 20);
    let (mut buf, mut out, mut whole) = (Vec::new(), Vec::new(), Vec::new());
    let (mut fed, mut pos, mut i) = (0, 0, 0);
    loop {
        match scanner.next(&buf, pos, |t| wanted.contains(&t)) {
            Ok(Event::Pass { end }) => {
                out.extend_from_slice(&buf[pos..end]);
                pos = end;
            }
            Ok(Event::Whole { tag, start, end }) => {
                out.extend_from_slice(&buf[start..end]);
                whole.push((tag, buf[start + 5..end].to_vec()));
                pos = end;
            }
            Ok(Event::NeedMore { .. }) => {
                if fed == stream.len() {
                    return (out, whole);
                }
                buf.drain(..pos);
                pos = 0;
                let n = chunks[i % chunks.len()].min(stream.len() - fed);
                i += 1;
                buf.extend_from_slice(&stream[fed..fed + n]);
                fed += n;
            }
            Err(e) => panic!("valid stream rejected: {e}"),
        }
    }
}

proptest! {
    #[test]
    fn any_chunking_relays_every_byte_and_every_wanted_frame(
        frames in frames(),
        chunks in proptest::collection::vec(1usize..700, 1..8),
        wanted in proptest::sample::subsequence(TAGS.to_vec(), 0..TAGS.len()),
    ) {
        let stream = encode(&frames);
        let (out, whole) = relay(&stream, &chunks, &wanted);
        prop_assert_eq!(out, stream);
        let expected: Vec<(u8, Vec<u8>)> = frames
            .into_iter()
            .filter(|(t, _)| wanted.contains(t))
            .collect();
        prop_assert_eq!(whole, expected);
    }

    #[test]
    fn a_length_below_four_is_an_error_never_a_panic(
        tag in any::<u8>(),
        len in 0u32..4,
        rest in proptest::collection::vec(any::<u8>(), 0..16),
    ) {
        let mut buf = vec![tag];
        buf.extend_from_slice(&len.to_be_bytes());
        buf.extend_from_slice(&rest);
        let mut scanner = Scanner::new(1024);
        prop_assert!(scanner.next(&buf, 0, |_| true).is_err());
        let mut scanner = Scanner::new(1024);
        prop_assert!(scanner.next(&buf, 0, |_| false).is_err());
    }
}
