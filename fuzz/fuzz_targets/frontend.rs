//! Frontend messages: frame scanning over arbitrary bytes, then every field
//! reader the proxy applies to a whole message body. Nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pgsplit::protocol::messages;
use pgsplit::protocol::scan::{Event, Scanner};

fuzz_target!(|data: &[u8]| {
    // A small limit exercises the "message too large" path as well.
    let mut scanner = Scanner::new(4096);
    let mut pos = 0;
    while pos < data.len() {
        match scanner.next(data, pos, |t| t != b'D') {
            Ok(Event::Whole { start, end, .. }) => {
                let body = &data[start + 5..end];
                let _ = messages::query_text(body);
                let _ = messages::parse_names(body);
                let _ = messages::bind_names(body);
                let _ = messages::target(body);
                let _ = messages::parameter(body);
                let _ = messages::error_fields(body);
                let _ = messages::cstr(body);
                let _ = messages::u32_at(body, 0);
                if end <= pos {
                    break;
                }
                pos = end;
            }
            Ok(Event::Pass { end }) if end > pos => pos = end,
            _ => break,
        }
    }
});
