//! The phi accrual failure detector (Hayashibara et al. 2004), as Akka
//! computes it.
//!
//! Instead of "N intervals of silence", phi says how unlikely the current
//! silence is given the inter-arrival times seen so far: phi = 1 means a
//! 10% chance the next beat is still coming, phi = 8 one in 10^8. It adapts
//! to each node's real cadence and jitter. Pure arithmetic; the detector
//! turns thresholds into deadlines with [`Phi::silence_for`].

use std::collections::VecDeque;

/// Tuning of the phi detector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PhiConfig {
    /// `suspect` at this phi.
    pub suspect: f64,
    /// `down` at this phi.
    pub threshold: f64,
    /// Floor of the standard deviation, in ms: without it a very regular
    /// sender would be declared down after a few ms of jitter.
    pub min_std_dev_ms: f64,
    /// Silence always tolerated on top of the mean, in ms.
    pub acceptable_pause_ms: f64,
    /// Inter-arrival times remembered.
    pub window: usize,
}

impl Default for PhiConfig {
    fn default() -> Self {
        PhiConfig {
            suspect: 5.0,
            threshold: 8.0,
            min_std_dev_ms: 100.0,
            acceptable_pause_ms: 0.0,
            window: 1000,
        }
    }
}

/// phi for a silence of `t` ms, given the mean and standard deviation of
/// the inter-arrival times (Akka's logistic approximation of the normal
/// distribution's tail).
pub fn phi(t: f64, mean: f64, std_dev: f64) -> f64 {
    let y = (t - mean) / std_dev;
    let e = (-y * (1.5976 + 0.070566 * y * y)).exp();
    if t > mean {
        -(e / (1.0 + e)).log10()
    } else {
        -(1.0 - 1.0 / (1.0 + e)).log10()
    }
}

/// The last `window` inter-arrival times of one node, with running sums so
/// a beat costs O(1) however large the window.
#[derive(Debug, Clone)]
pub struct Arrivals {
    samples: VecDeque<u32>,
    capacity: usize,
    sum: f64,
    sum_sq: f64,
}

impl Arrivals {
    /// Seeded as Akka does, with a guess from the node's declared interval
    /// (mean `every_ms`, deviation a quarter of it), so phi is meaningful
    /// from the second beat on.
    pub fn new(capacity: usize, every_ms: u64) -> Self {
        let mut a = Arrivals {
            samples: VecDeque::with_capacity(capacity.min(64)),
            capacity: capacity.max(2),
            sum: 0.0,
            sum_sq: 0.0,
        };
        let sd = every_ms as f64 / 4.0;
        a.push((every_ms as f64 - sd).max(1.0) as u32);
        a.push((every_ms as f64 + sd) as u32);
        a
    }

    pub fn push(&mut self, interval_ms: u32) {
        if self.samples.len() == self.capacity {
            let old = f64::from(self.samples.pop_front().expect("full window"));
            self.sum -= old;
            self.sum_sq -= old * old;
        }
        let x = f64::from(interval_ms);
        self.samples.push_back(interval_ms);
        self.sum += x;
        self.sum_sq += x * x;
    }

    pub fn mean(&self) -> f64 {
        self.sum / self.samples.len() as f64
    }

    pub fn std_dev(&self) -> f64 {
        let n = self.samples.len() as f64;
        let mean = self.mean();
        (self.sum_sq / n - mean * mean).max(0.0).sqrt()
    }
}

/// phi for one node: its arrivals under a configuration.
pub struct Phi<'a> {
    pub cfg: &'a PhiConfig,
    pub arrivals: &'a Arrivals,
}

impl Phi<'_> {
    /// phi after `silent_ms` without a beat.
    pub fn at(&self, silent_ms: f64) -> f64 {
        let mean = self.arrivals.mean() + self.cfg.acceptable_pause_ms;
        let sd = self.arrivals.std_dev().max(self.cfg.min_std_dev_ms);
        phi(silent_ms, mean, sd)
    }

    /// The silence (ms, rounded up) after which phi reaches `level`: phi
    /// only grows with silence, so bisection finds it.
    pub fn silence_for(&self, level: f64) -> u64 {
        let (mut lo, mut hi) = (0.0f64, 1.0f64);
        while self.at(hi) < level {
            hi *= 2.0;
            if hi > 1e12 {
                return u64::MAX;
            }
        }
        while hi - lo > 0.5 {
            let mid = (lo + hi) / 2.0;
            if self.at(mid) < level {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        hi.ceil() as u64
    }
}

#[cfg(test)]
mod tests;
