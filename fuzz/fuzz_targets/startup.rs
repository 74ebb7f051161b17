//! The first packet of a connection: length check, then StartupMessage,
//! SSLRequest, GSSENCRequest or CancelRequest parsing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pgsplit::protocol::startup;

fuzz_target!(|data: &[u8]| {
    if data.len() >= 4 {
        let len = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
        let _ = startup::check_len(len);
        let _ = startup::parse(&data[4..]);
    }
    let _ = startup::parse(data);
});
