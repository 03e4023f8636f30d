//! Medians, percentiles and verdicts: how a figure is put against its baseline.

use std::time::Duration;

pub(crate) fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

pub(crate) fn median(sample: &[Duration]) -> Duration {
    percentile(sample, 0.5)
}

pub(crate) fn percentile(sample: &[Duration], p: f64) -> Duration {
    let mut sorted = sample.to_vec();
    sorted.sort();
    sorted
        .get(((sorted.len().max(1) - 1) as f64 * p).round() as usize)
        .copied()
        .unwrap_or_default()
}

pub(crate) fn ms(duration: Duration) -> String {
    format!("{:.2}", duration.as_secs_f64() * 1000.0)
}

/// `ratio (goal ≤ x: met)` or a bold MISSED.
pub(crate) fn ratio_verdict(value: Duration, baseline: Duration, goal: f64) -> String {
    let ratio = value.as_secs_f64() / baseline.as_secs_f64().max(1e-9);
    if ratio <= goal {
        format!("{ratio:.2}x (≤ {goal}x: met)")
    } else {
        format!("**{ratio:.2}x (≤ {goal}x: MISSED)**")
    }
}
