//! Latency samples and the figures reported from them.

use std::time::Duration;

#[derive(Default)]
pub struct Samples {
    latencies: Vec<Duration>,
}

pub struct Summary {
    pub count: usize,
    pub per_second: f64,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl Samples {
    pub fn extend(&mut self, other: Samples) {
        self.latencies.extend(other.latencies);
    }

    pub fn push(&mut self, latency: Duration) {
        self.latencies.push(latency);
    }

    pub fn summary(mut self, wall: Duration) -> Summary {
        self.latencies.sort();
        let at = |q: f64| {
            let index = ((self.latencies.len() as f64 - 1.0) * q).round() as usize;
            self.latencies.get(index).copied().unwrap_or_default()
        };
        Summary {
            count: self.latencies.len(),
            per_second: self.latencies.len() as f64 / wall.as_secs_f64().max(1e-9),
            p50: at(0.50),
            p99: at(0.99),
            max: self.latencies.last().copied().unwrap_or_default(),
        }
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:>7} msgs  {:>8.0} msg/s  p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms",
            self.count,
            self.per_second,
            self.p50.as_secs_f64() * 1e3,
            self.p99.as_secs_f64() * 1e3,
            self.max.as_secs_f64() * 1e3
        )
    }
}
