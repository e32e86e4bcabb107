use super::*;

fn fixed(cpu_pct: Option<f32>, mem_total: u64, mem_avail: u64) -> Health {
    Health {
        cpu_pct,
        mem_total,
        mem_avail,
        swap_used: 1 << 20,
        load1: 0.25,
        load5: 1.5,
        load15: 12.07,
        uptime_s: 86_400,
    }
}

#[test]
fn remaining_wait_and_rounding() {
    let min = MINIMUM_CPU_UPDATE_INTERVAL;
    assert_eq!(remaining_wait(Duration::ZERO), min);
    assert_eq!(remaining_wait(min / 4), min - min / 4);
    assert_eq!(remaining_wait(min), Duration::ZERO);
    assert_eq!(remaining_wait(min * 100), Duration::ZERO);
    assert_eq!(round(1.23456, 2), 1.23);
    assert_eq!(round(42.06, 1) as f32, 42.1);
}

#[test]
fn sample_is_plausible_and_waits_for_a_real_cpu_window() {
    let start = Instant::now();
    let mut sampler = Sampler::new().expect("sysinfo init");
    let h = sampler.sample();
    assert!(start.elapsed() >= MINIMUM_CPU_UPDATE_INTERVAL);
    assert!(h.mem_total > 0 && h.mem_avail <= h.mem_total, "{h:?}");
    assert!(h.load1 >= 0.0 && h.load5 >= 0.0 && h.load15 >= 0.0, "{h:?}");
    if cfg!(target_os = "linux") {
        assert!(h.cpu_pct.is_some() && h.uptime_s > 0, "{h:?}");
    }
    assert!(h.cpu_pct.iter().all(|c| (0.0..=100.0).contains(c)), "{h:?}");
    assert!((0.0..=100.0).contains(&h.mem_used_pct().unwrap()));
    assert!(sampler.sample().mem_total > 0, "second window also works");
}

#[test]
fn json_wire_format_is_exact() {
    let json = |cpu| serde_json::to_string(&fixed(cpu, 8_000, 2_000)).unwrap();
    let rest = r#""mem_total":8000,"mem_avail":2000,"swap_used":1048576,"load1":0.25,"load5":1.5,"load15":12.07,"uptime_s":86400}"#;
    assert_eq!(json(None), format!("{{{rest}"), "cpu_pct skipped when None");
    assert_eq!(json(Some(12.3)), format!(r#"{{"cpu_pct":12.3,{rest}"#));
}

#[test]
fn json_round_trip() {
    for h in [fixed(Some(12.3), 8_000, 2_000), fixed(None, 0, 0)] {
        let s = serde_json::to_string(&h).unwrap();
        assert_eq!(serde_json::from_str::<Health>(&s).unwrap(), h, "{s}");
    }
}

#[test]
fn mem_used_pct_math() {
    let pct = |total, avail| fixed(None, total, avail).mem_used_pct();
    assert_eq!(pct(8_000, 2_000), Some(75.0));
    assert_eq!(pct(8_000, 0), Some(100.0));
    assert_eq!(pct(8_000, 8_000), Some(0.0));
    assert_eq!(pct(8_000, 9_000), Some(0.0)); // inconsistent input must not underflow
    assert_eq!(pct(0, 0), None);
}

#[test]
fn background_produces_a_sample() {
    let bg = Background::spawn(Duration::from_millis(50));
    let deadline = Instant::now() + Duration::from_secs(20);
    while bg.latest().is_none() {
        assert!(Instant::now() < deadline, "no sample within 20s");
        thread::sleep(Duration::from_millis(20));
    }
    assert!(bg.latest().unwrap().mem_total > 0);
}
