//! Recording calls: one [`Recorder`] per worker (no sharing on the hot path), merged at the end
//! into a [`Summary`] of throughput, latency percentiles and errors by gRPC code.

use std::{collections::BTreeMap, time::Duration};

use hdrhistogram::Histogram;
use serde::Serialize;

/// The slowest latency the histograms hold (one minute); slower calls count as one minute.
const MAX_MICROS: u64 = 60_000_000;

/// How one call ended, when it did not succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The call failed with this gRPC status code.
    Status(tonic::Code),
    /// A CheckPermission answered "denied" where the benchmark expects a grant (a denial is an
    /// answer, not an error, but it would be a different, audited, code path).
    Denied,
}

impl Failure {
    /// The label errors are counted under: the canonical gRPC code name, or `DENIED`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Status(code) => crm_api::code_name(code),
            Self::Denied => "DENIED",
        }
    }
}

impl From<tonic::Status> for Failure {
    fn from(status: tonic::Status) -> Self {
        Self::Status(status.code())
    }
}

/// The outcome of one call.
pub type Outcome = Result<(), Failure>;

/// Latencies of successful calls (microseconds, three significant digits) and failures by label.
#[derive(Debug, Clone)]
pub struct Recorder {
    latencies: Histogram<u64>,
    errors: BTreeMap<&'static str, u64>,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

impl Recorder {
    /// An empty recorder.
    #[allow(clippy::expect_used, reason = "constant bounds that hdrhistogram accepts")]
    pub fn new() -> Self {
        Self {
            // 1 µs to one minute at three significant digits: a fixed, small allocation.
            latencies: Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("valid histogram bounds"),
            errors: BTreeMap::new(),
        }
    }

    /// Records one call that took `latency` and ended with `outcome`.
    pub fn record(&mut self, latency: Duration, outcome: Outcome) {
        match outcome {
            Ok(()) => {
                let micros = u64::try_from(latency.as_micros())
                    .unwrap_or(MAX_MICROS)
                    .clamp(1, MAX_MICROS);
                self.latencies.saturating_record(micros);
            }
            Err(failure) => *self.errors.entry(failure.label()).or_default() += 1,
        }
    }

    /// Adds another recorder's calls to this one.
    pub fn merge(&mut self, other: &Self) {
        // Both have the same bounds, so adding cannot fail; a failure would only lose samples.
        let _ = self.latencies.add(&other.latencies);
        for (label, count) in &other.errors {
            *self.errors.entry(label).or_default() += count;
        }
    }

    /// Successful calls so far.
    pub fn successes(&self) -> u64 {
        self.latencies.len()
    }

    /// The summary over `seconds` of measuring.
    pub fn summary(&self, seconds: f64) -> Summary {
        let h = &self.latencies;
        let empty = h.is_empty();
        let at = |q: f64| if empty { 0 } else { h.value_at_quantile(q) };
        Summary {
            ok: h.len(),
            errors: self
                .errors
                .iter()
                .map(|(label, count)| ((*label).to_owned(), *count))
                .collect(),
            seconds,
            rate: if seconds > 0.0 { h.len() as f64 / seconds } else { 0.0 },
            p50_us: at(0.50),
            p90_us: at(0.90),
            p99_us: at(0.99),
            max_us: if empty { 0 } else { h.max() },
            mean_us: if empty { 0.0 } else { h.mean() },
        }
    }
}

/// What a measure did: successful calls per second, latency percentiles of the successful calls,
/// and the failed calls by gRPC code.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Successful calls.
    pub ok: u64,
    /// Failed calls by label (gRPC code name, or `DENIED`).
    pub errors: BTreeMap<String, u64>,
    /// How long the measure ran (after its warm-up).
    pub seconds: f64,
    /// Successful calls per second.
    pub rate: f64,
    /// Median latency, microseconds.
    pub p50_us: u64,
    /// 90th percentile, microseconds.
    pub p90_us: u64,
    /// 99th percentile, microseconds.
    pub p99_us: u64,
    /// The slowest call, microseconds.
    pub max_us: u64,
    /// Mean latency, microseconds.
    pub mean_us: f64,
}

impl Summary {
    /// Failed calls of every kind.
    pub fn failed(&self) -> u64 {
        self.errors.values().sum()
    }

    /// The failures as `CODE n, CODE n`, or `0`.
    pub fn errors_text(&self) -> String {
        if self.errors.is_empty() {
            return "0".to_owned();
        }
        self.errors
            .iter()
            .map(|(label, count)| format!("{label} {count}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The `q` quantile (0..=1) of `values`, which it sorts; `None` when empty.
pub fn quantile(values: &mut [u64], q: f64) -> Option<u64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    Some(values[rank - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_has_percentiles_of_successes_and_errors_by_code() {
        let mut a = Recorder::new();
        let mut b = Recorder::new();
        for i in 1..=99u64 {
            a.record(Duration::from_micros(i * 10), Ok(()));
        }
        b.record(Duration::from_micros(5_000), Ok(()));
        b.record(Duration::from_micros(1), Err(Failure::Status(tonic::Code::Aborted)));
        b.record(Duration::from_micros(1), Err(Failure::Status(tonic::Code::Aborted)));
        b.record(Duration::from_micros(1), Err(Failure::Denied));
        a.merge(&b);
        let summary = a.summary(2.0);
        assert_eq!(summary.ok, 100);
        assert_eq!(summary.rate, 50.0);
        assert_eq!(summary.failed(), 3);
        assert_eq!(summary.errors_text(), "ABORTED 2, DENIED 1");
        // Three significant digits: 500 µs and 990 µs are exact.
        assert_eq!(summary.p50_us, 500);
        assert_eq!(summary.p99_us, 990);
        assert!((4_990..=5_010).contains(&summary.max_us), "{}", summary.max_us);
    }

    #[test]
    fn an_empty_summary_is_zero_not_a_panic() {
        let summary = Recorder::new().summary(0.0);
        assert_eq!((summary.ok, summary.rate, summary.p99_us), (0, 0.0, 0));
        assert_eq!(summary.errors_text(), "0");
    }

    #[test]
    fn quantile_is_the_nearest_rank() {
        let mut values: Vec<u64> = (1..=200).rev().collect();
        assert_eq!(quantile(&mut values, 0.99), Some(198));
        assert_eq!(quantile(&mut values, 0.5), Some(100));
        assert_eq!(quantile(&mut values, 1.0), Some(200));
        assert_eq!(quantile(&mut [], 0.5), None);
    }
}
