//! The phi accrual failure detector (Hayashibara et al. 2004), as Akka
//! computes it.
//!
//! Instead of "N intervals of silence", phi says how unlikely the current
//! silence is given the inter-arrival times seen so far: phi = 1 means a
//! 10% chance the next beat is still coming, phi = 8 one in 10^8. It adapts
//! to each node's real cadence and jitter. Pure arithmetic; the detector
//! turns thresholds into deadlines with [`Phi::silence_for`].

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
    /// Inter-arrival times the statistics cover: the last `window`, kept
    /// as the sums of 16 blocks (see [`Arrivals`]).
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

/// Blocks a window is kept in. The window remembers sums, not samples: a
/// block of `window / BLOCKS` inter-arrival times is two numbers. The full
/// blocks, the one being filled and a running total are 312 bytes a node
/// whatever the window, where keeping the samples takes 4 bytes each (4 KB
/// at the default 1000).
const BLOCKS: usize = 16;

/// The sum and sum of squares of some inter-arrival times. They are
/// integers of milliseconds, which an `f64` holds exactly up to 2^53: for
/// the intervals of heartbeats (a block of 63 stays exact up to intervals
/// of 3 hours) the sums are exact, and the window's statistics never drift
/// however long a node lives.
#[derive(Debug, Clone, Copy, Default)]
struct Sums {
    sum: f64,
    sum_sq: f64,
}

impl Sums {
    fn add(&mut self, other: Sums, weight: f64) {
        self.sum += weight * other.sum;
        self.sum_sq += weight * other.sum_sq;
    }
}

/// The last `window` inter-arrival times of one node, as the sums of
/// blocks of `ceil(window / 16)` (63 of 1000), so a beat costs O(1) and a
/// node a fixed few hundred bytes however large the window.
///
/// Until `window` samples have come, every sample counts, exactly. From
/// then on the samples of the oldest block leave at its average instead
/// of one by one: the statistics weigh that block by the share of it still
/// inside the window, and drop it when none is. They always cover
/// `window` samples, and differ from the exact ones only by how the
/// samples of one block (a sixteenth of the window) differ from their
/// average. A window of 16 or fewer has blocks of one sample: exact.
#[derive(Debug, Clone)]
pub struct Arrivals {
    /// Full blocks, oldest first from `first`, in a ring.
    full: [Sums; BLOCKS],
    first: u8,
    full_len: u8,
    /// The sums of the full blocks but the oldest, recomputed when one is
    /// added or leaves (never by subtraction, which would accumulate
    /// rounding).
    younger: Sums,
    /// The block being filled.
    newest: Sums,
    newest_len: u32,
    block_len: u32,
    /// Samples in the blocks: at most `window + block_len - 1`.
    held: u32,
    window: u32,
}

impl Arrivals {
    /// Seeded as Akka does, with a guess from the node's declared interval
    /// (mean `every_ms`, deviation a quarter of it), so phi is meaningful
    /// from the second beat on.
    pub fn new(window: usize, every_ms: u64) -> Self {
        // Bounded so that `held` (up to a block over the window) fits.
        let window = u32::try_from(window).unwrap_or(u32::MAX).clamp(2, 1 << 30);
        let mut a = Arrivals {
            full: [Sums::default(); BLOCKS],
            first: 0,
            full_len: 0,
            younger: Sums::default(),
            newest: Sums::default(),
            newest_len: 0,
            block_len: window.div_ceil(BLOCKS as u32),
            held: 0,
            window,
        };
        let sd = every_ms as f64 / 4.0;
        a.push((every_ms as f64 - sd).max(1.0) as u32);
        a.push((every_ms as f64 + sd) as u32);
        a
    }

    pub fn push(&mut self, interval_ms: u32) {
        if self.newest_len == self.block_len {
            self.close_newest_block();
        }
        let x = f64::from(interval_ms);
        self.newest.add(
            Sums {
                sum: x,
                sum_sq: x * x,
            },
            1.0,
        );
        self.newest_len += 1;
        self.held += 1;
        if self.held - self.window.min(self.held) == self.block_len {
            self.drop_oldest_block();
        }
    }

    /// There is room: a block closes when `held` is a multiple of
    /// `block_len`, below `window + block_len`, so at most
    /// `window / block_len` <= 16 blocks are full.
    fn close_newest_block(&mut self) {
        let slot = (usize::from(self.first) + usize::from(self.full_len)) % BLOCKS;
        self.full[slot] = std::mem::take(&mut self.newest);
        self.full_len += 1;
        self.newest_len = 0;
        self.total_younger_blocks();
    }

    /// Once the window has moved a whole block past it. There is one:
    /// `held` exceeds `window`, which the newest block alone never does.
    fn drop_oldest_block(&mut self) {
        self.first = (self.first + 1) % BLOCKS as u8;
        self.full_len -= 1;
        self.held -= self.block_len;
        self.total_younger_blocks();
    }

    fn total_younger_blocks(&mut self) {
        let mut total = Sums::default();
        for i in 1..usize::from(self.full_len) {
            total.add(self.full[(usize::from(self.first) + i) % BLOCKS], 1.0);
        }
        self.younger = total;
    }

    /// Samples counted (`window` once it is full) and their sums.
    fn totals(&self) -> (f64, Sums) {
        let mut total = self.younger;
        total.add(self.newest, 1.0);
        if self.full_len > 0 {
            // The share of the oldest block still inside the window.
            let outside = self.held.saturating_sub(self.window);
            let weight = f64::from(self.block_len - outside) / f64::from(self.block_len);
            total.add(self.full[usize::from(self.first)], weight);
        }
        (f64::from(self.held.min(self.window)), total)
    }

    pub fn mean(&self) -> f64 {
        let (n, total) = self.totals();
        total.sum / n
    }

    pub fn std_dev(&self) -> f64 {
        let (n, Sums { sum, sum_sq }) = self.totals();
        let mean = sum / n;
        (sum_sq / n - mean * mean).max(0.0).sqrt()
    }
}

/// phi for one node: the mean and deviation of its arrivals under a
/// configuration, computed once for the many evaluations of
/// [`Phi::silence_for`].
pub struct Phi {
    mean: f64,
    std_dev: f64,
}

impl Phi {
    pub fn new(cfg: &PhiConfig, arrivals: &Arrivals) -> Self {
        Phi {
            mean: arrivals.mean() + cfg.acceptable_pause_ms,
            std_dev: arrivals.std_dev().max(cfg.min_std_dev_ms),
        }
    }

    /// phi after `silent_ms` without a beat.
    pub fn at(&self, silent_ms: f64) -> f64 {
        phi(silent_ms, self.mean, self.std_dev)
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
