//! Medians and percentiles of timing samples.

use std::collections::BTreeMap;
use std::time::Duration;

/// Samples in milliseconds.
#[derive(Debug, Clone, Default)]
pub struct Samples(Vec<f64>);

impl Samples {
    pub fn push(&mut self, d: Duration) {
        self.0.push(d.as_secs_f64() * 1000.0);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Adds another set's samples.
    pub fn extend(&mut self, other: &Samples) {
        self.0.extend_from_slice(&other.0);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn sorted(&self) -> Vec<f64> {
        let mut v = self.0.clone();
        v.sort_by(f64::total_cmp);
        v
    }

    /// The median (the mean of the middle two for an even count).
    pub fn median(&self) -> f64 {
        let v = self.sorted();
        match v.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => v[n / 2],
            n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        }
    }

    /// The nearest-rank percentile `p` (0..=100).
    pub fn percentile(&self, p: f64) -> f64 {
        let v = self.sorted();
        if v.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
        v[rank.clamp(1, v.len()) - 1]
    }

    pub fn p99(&self) -> f64 {
        self.percentile(99.0)
    }
}

/// Samples per command, in the order the commands were first seen.
#[derive(Debug, Clone, Default)]
pub struct Timings {
    order: Vec<&'static str>,
    by_name: BTreeMap<&'static str, Samples>,
}

impl Timings {
    pub fn push(&mut self, name: &'static str, d: Duration) {
        if !self.by_name.contains_key(name) {
            self.order.push(name);
        }
        self.by_name.entry(name).or_default().push(d);
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.order.clone()
    }

    pub fn get(&self, name: &str) -> Samples {
        self.by_name.get(name).cloned().unwrap_or_default()
    }
}
