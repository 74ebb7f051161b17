//! Frame scanning on a DataRow-heavy reply, the relay's hot path.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pgsplit::protocol::scan::{Event, Scanner};
use pgsplit::protocol::tag;

fn reply(rows: usize) -> Vec<u8> {
    let mut v = Vec::new();
    for i in 0..rows {
        let col = format!("{i:08}-some-text-column");
        let body_len = 2 + 4 + col.len() + 4 + 4;
        v.push(b'D');
        v.extend_from_slice(&((body_len + 4) as u32).to_be_bytes());
        v.extend_from_slice(&2u16.to_be_bytes());
        v.extend_from_slice(&(col.len() as u32).to_be_bytes());
        v.extend_from_slice(col.as_bytes());
        v.extend_from_slice(&4u32.to_be_bytes());
        v.extend_from_slice(&(i as u32).to_be_bytes());
    }
    v.extend_from_slice(&[b'C', 0, 0, 0, 15]);
    v.extend_from_slice(b"SELECT 100\0");
    v.extend_from_slice(&[b'Z', 0, 0, 0, 5, b'I']);
    v
}

fn bench(c: &mut Criterion) {
    let buf = reply(1000);
    let mut g = c.benchmark_group("scan");
    g.throughput(Throughput::Bytes(buf.len() as u64));
    g.bench_function("1000 DataRows in 32 KiB reads", |b| {
        b.iter(|| {
            let mut s = Scanner::new(1 << 20);
            let mut forwarded = 0usize;
            let mut zs = 0;
            let mut pending = bytes::BytesMut::with_capacity(64 * 1024);
            for chunk in buf.chunks(32 * 1024) {
                // As the relay does: unscanned bytes wait for the next read.
                pending.extend_from_slice(chunk);
                let mut pos = 0;
                loop {
                    let ev = s.next(&pending, pos, |t| t == tag::READY_FOR_QUERY);
                    match ev.unwrap_or(Event::NeedMore { need: 0 }) {
                        Event::Pass { end } => {
                            forwarded += end - pos;
                            pos = end;
                        }
                        Event::Whole { end, .. } => {
                            zs += 1;
                            forwarded += end - pos;
                            pos = end;
                        }
                        Event::NeedMore { .. } => break,
                    }
                }
                bytes::Buf::advance(&mut pending, pos);
            }
            assert_eq!((forwarded, zs), (buf.len(), 1));
            forwarded
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
