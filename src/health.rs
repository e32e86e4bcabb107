//! Host health carried in heartbeats: CPU, memory, swap, load and uptime.
//!
//! Only CPU usage and memory are ever refreshed through sysinfo: processes,
//! disks and networks are expensive to scan and a heartbeat does not need them.

use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::thread;
use std::time::{Duration, Instant};
use sysinfo::{System, MINIMUM_CPU_UPDATE_INTERVAL};

use crate::output::round;

/// One health reading. Field names are the wire format; keep them stable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Health {
    /// Global CPU usage in percent (0..=100, all CPUs averaged), rounded to 0.1.
    /// `None` when the platform gave no CPU statistics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_pct: Option<f32>,
    /// Total RAM in bytes.
    pub mem_total: u64,
    /// RAM available for (re)use in bytes (counts reclaimable cache, unlike "free").
    pub mem_avail: u64,
    /// Swap in use in bytes.
    pub swap_used: u64,
    /// 1-minute load average, rounded to 2 decimals (0 where unsupported, e.g. Windows).
    pub load1: f64,
    /// 5-minute load average, as `load1`.
    pub load5: f64,
    /// 15-minute load average, as `load1`.
    pub load15: f64,
    /// Seconds since boot (0 if unknown).
    pub uptime_s: u64,
}

impl Health {
    /// Percentage of RAM in use, the figure pollers threshold on; `None` if
    /// total memory is unknown (0), rather than dividing by zero.
    pub fn mem_used_pct(&self) -> Option<f64> {
        mem_used_pct(self.mem_total, self.mem_avail)
    }
}

/// Percentage of `total` RAM in use when `avail` is available; `None` if
/// total memory is unknown (0).
pub fn mem_used_pct(total: u64, avail: u64) -> Option<f64> {
    (total > 0).then(|| 100.0 * total.saturating_sub(avail) as f64 / total as f64)
}

/// How long to sleep before refreshing CPU usage so the measurement window is
/// at least [`MINIMUM_CPU_UPDATE_INTERVAL`]; sysinfo ignores earlier refreshes
/// and would report the stale (or, on the first sample, meaningless) value.
fn remaining_wait(since_last: Duration) -> Duration {
    MINIMUM_CPU_UPDATE_INTERVAL.saturating_sub(since_last)
}

/// Takes health readings; CPU usage is measured between consecutive refreshes.
pub struct Sampler {
    sys: System,
    /// When the CPU counters were last read (taken *after* the refresh, so it is
    /// never earlier than sysinfo's own timestamp and our wait is sufficient).
    last_cpu: Instant,
    /// The last CPU figure: `None` before the first reading, `Some(None)`
    /// when the platform gives none.
    cpu_pct: Option<Option<f32>>,
}

impl Sampler {
    /// Creates an empty `System` and reads the CPU baseline, so the first
    /// [`sample`](Self::sample) measures usage since now.
    ///
    /// # Errors
    /// If sysinfo cannot initialise on this platform (it cannot fail on Linux).
    pub fn new() -> Result<Self, sysinfo::Error> {
        let mut sys = System::new()?;
        sys.refresh_cpu_usage();
        Ok(Self {
            sys,
            last_cpu: Instant::now(),
            cpu_pct: None,
        })
    }

    /// Reads health, with CPU usage averaged since the previous reading (or
    /// since `new`). The first call sleeps until [`MINIMUM_CPU_UPDATE_INTERVAL`]
    /// has passed, so even a one-shot heartbeat reports a real CPU figure;
    /// later calls never sleep (a fast heartbeat must keep its cadence) and
    /// repeat the last CPU figure until a new window is long enough.
    pub fn sample(&mut self) -> Health {
        if self.cpu_pct.is_none() {
            thread::sleep(remaining_wait(self.last_cpu.elapsed()));
        }
        if self.cpu_pct.is_none() || remaining_wait(self.last_cpu.elapsed()).is_zero() {
            self.sys.refresh_cpu_usage();
            self.last_cpu = Instant::now();
            // No CPUs listed means /proc/stat (or equivalent) was unreadable.
            self.cpu_pct = Some(
                (!self.sys.cpus().is_empty())
                    .then(|| round(self.sys.global_cpu_usage().into(), 1) as f32),
            );
        }
        self.sys.refresh_memory();
        let load = System::load_average().unwrap_or_default();
        Health {
            cpu_pct: self.cpu_pct.flatten(),
            mem_total: self.sys.total_memory(),
            mem_avail: self.sys.available_memory(),
            swap_used: self.sys.used_swap(),
            load1: round(load.one, 2),
            load5: round(load.five, 2),
            load15: round(load.fifteen, 2),
            uptime_s: System::uptime().unwrap_or(0),
        }
    }
}

/// Health sampled on a background thread, so a responder can answer probes
/// instantly with the latest reading instead of waiting on sysinfo.
///
/// Cloning is cheap; the thread stops after its next sample once every clone
/// is dropped, and never keeps the process alive.
#[derive(Clone)]
pub struct Background {
    latest: Arc<Mutex<Option<Health>>>,
}

impl Background {
    /// Starts the "hb-health" thread, sampling every `every` (floored at
    /// [`MINIMUM_CPU_UPDATE_INTERVAL`], as faster sampling only repeats stale
    /// CPU figures). If sysinfo cannot initialise, [`latest`](Self::latest)
    /// stays `None` and probes are answered without health.
    ///
    /// # Panics
    /// If the OS cannot create a thread, like [`std::thread::spawn`].
    pub fn spawn(every: Duration) -> Background {
        let latest = Arc::new(Mutex::new(None));
        let weak = Arc::downgrade(&latest);
        let every = every.max(MINIMUM_CPU_UPDATE_INTERVAL);
        thread::Builder::new()
            .name("hb-health".into())
            .spawn(move || run(weak, every))
            .expect("failed to spawn hb-health thread");
        Background { latest }
    }

    /// The most recent reading; `None` until the first sample (about
    /// [`MINIMUM_CPU_UPDATE_INTERVAL`] after `spawn`).
    pub fn latest(&self) -> Option<Health> {
        // Poison is harmless: the slot only ever receives whole values.
        self.latest
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Holds only a `Weak` so that dropping every `Background` ends the thread;
/// returns early (`None`) then, or if sysinfo cannot initialise.
fn run(weak: Weak<Mutex<Option<Health>>>, every: Duration) -> Option<()> {
    let mut sampler = Sampler::new().ok()?;
    loop {
        let health = sampler.sample();
        *weak
            .upgrade()?
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(health);
        thread::sleep(every);
    }
}

#[cfg(test)]
mod tests;
