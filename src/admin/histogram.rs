//! A histogram of durations observed on the hot path (once per statement,
//! once per checkout): a relaxed atomic add to the bucket and one to the
//! sum, no lock. prometheus-client's histogram takes a mutex and searches
//! its buckets in floating point on every observation, which cost about
//! 200 instructions per statement here; this costs about 30. It is encoded
//! as an ordinary Prometheus histogram.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::{MetricType, TypedMetric};

#[derive(Clone, Debug)]
pub struct Histogram(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    /// Upper bounds in nanoseconds, ascending.
    bounds: Vec<u64>,
    /// One count per bound, then one for `+Inf`.
    counts: Vec<AtomicU64>,
    sum_ns: AtomicU64,
}

impl Histogram {
    /// Buckets `start`, `start × factor`, … (`n` of them), then `+Inf`.
    pub fn exponential(start: Duration, factor: u32, n: usize) -> Histogram {
        let bounds: Vec<u64> = std::iter::successors(Some(nanos(start)), |b| {
            Some(b.saturating_mul(u64::from(factor)))
        })
        .take(n)
        .collect();
        let counts = (0..=n).map(|_| AtomicU64::new(0)).collect();
        Histogram(Arc::new(Inner {
            bounds,
            counts,
            sum_ns: AtomicU64::new(0),
        }))
    }

    pub fn observe(&self, d: Duration) {
        let ns = nanos(d);
        let i = self.0.bounds.partition_point(|&b| b < ns);
        self.0.counts[i].fetch_add(1, Ordering::Relaxed);
        self.0.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// (sum in seconds, count, per-bucket counts with upper bounds in
    /// seconds), as read now.
    fn snapshot(&self) -> (f64, u64, Vec<(f64, u64)>) {
        let bounds = self.0.bounds.iter().map(|&b| b as f64 / 1e9);
        let buckets: Vec<(f64, u64)> = bounds
            .chain(std::iter::once(f64::INFINITY))
            .zip(self.0.counts.iter().map(|c| c.load(Ordering::Relaxed)))
            .collect();
        let count = buckets.iter().map(|(_, c)| c).sum();
        let sum = self.0.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
        (sum, count, buckets)
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl TypedMetric for Histogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for Histogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let (sum, count, buckets) = self.snapshot();
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_the_first_bucket_that_holds_them() {
        // Bounds 10 µs, 40 µs, 160 µs, then +Inf.
        let h = Histogram::exponential(Duration::from_micros(10), 4, 3);
        for us in [0, 10, 11, 40, 100, 160, 161, 1_000_000] {
            h.observe(Duration::from_micros(us));
        }
        let (sum, count, buckets) = h.snapshot();
        assert_eq!(count, 8);
        assert!((sum - 1.000_482).abs() < 1e-9, "{sum}");
        let counts: Vec<u64> = buckets.iter().map(|(_, c)| *c).collect();
        assert_eq!(counts, [2, 2, 2, 2]);
        let bounds: Vec<f64> = buckets.iter().map(|(b, _)| *b).collect();
        assert_eq!(bounds, [0.00001, 0.00004, 0.00016, f64::INFINITY]);
    }

    #[test]
    fn encodes_as_a_prometheus_histogram() {
        let h = Histogram::exponential(Duration::from_millis(1), 10, 2);
        h.observe(Duration::from_millis(5));
        let mut r = prometheus_client::registry::Registry::default();
        r.register("wait_seconds", "help", h);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &r).unwrap_or_default();
        assert!(out.contains("# TYPE wait_seconds histogram"), "{out}");
        assert!(out.contains("wait_seconds_bucket{le=\"0.001\"} 0"), "{out}");
        assert!(out.contains("wait_seconds_bucket{le=\"0.01\"} 1"), "{out}");
        assert!(out.contains("wait_seconds_bucket{le=\"+Inf\"} 1"), "{out}");
        assert!(out.contains("wait_seconds_count 1"), "{out}");
    }
}
