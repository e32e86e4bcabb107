use super::*;
use proptest::prelude::*;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

/// Values worked by hand from the formula:
/// y = (t - mean) / sd, e = exp(-y (1.5976 + 0.070566 y^2)).
#[test]
fn phi_matches_hand_computed_values() {
    // t = mean: y = 0, e = 1, phi = -log10(1 - 1/2) = log10(2).
    assert!(close(phi(1000.0, 1000.0, 100.0), 2f64.log10()));
    // y = 1: e = exp(-1.668166) = 0.188597..., phi = -log10(e / (1 + e))
    let e1 = (-1.668166f64).exp();
    assert!(close(
        phi(1100.0, 1000.0, 100.0),
        -(e1 / (1.0 + e1)).log10()
    ));
    assert!(close(phi(1100.0, 1000.0, 100.0), 0.7995083));
    // y = 2: e = exp(-2 (1.5976 + 0.282264)) = exp(-3.759728)
    assert!(close(phi(1200.0, 1000.0, 100.0), 1.6428279));
    // y = 4: e = exp(-4 (1.5976 + 1.129056)) = exp(-10.906624)
    assert!(close(phi(1400.0, 1000.0, 100.0), 4.7366946));
    // Before the mean: y = -1, e = exp(1.668166), phi = -log10(1 - 1/(1+e))
    assert!(close(phi(900.0, 1000.0, 100.0), 0.0750330));
}

#[test]
fn arrivals_keep_running_statistics_in_a_bounded_window() {
    let mut a = Arrivals::new(4, 1000);
    assert!(close(a.mean(), 1000.0));
    assert!(close(a.std_dev(), 250.0));
    for x in [100, 200, 300, 400] {
        a.push(x);
    }
    assert!(close(a.mean(), 250.0), "the seed left the window");
    assert!(close(a.std_dev(), 125f64.sqrt() * 10.0));
}

#[test]
fn silence_for_inverts_phi() {
    let cfg = PhiConfig::default();
    let mut arrivals = Arrivals::new(100, 1000);
    for _ in 0..50 {
        arrivals.push(1000);
    }
    let p = Phi {
        cfg: &cfg,
        arrivals: &arrivals,
    };
    let t = p.silence_for(8.0);
    assert!(p.at(t as f64) >= 8.0);
    assert!(p.at(t as f64 - 1.0) < 8.0);
    // Regular 1 s beats, sd floored at 100 ms: phi 8 at about mean + 5.6 sd.
    assert!((1500..1700).contains(&t), "{t}");
    assert!(p.silence_for(5.0) < t);
}

proptest! {
    #[test]
    fn phi_grows_with_silence(mean in 10.0f64..10_000.0, sd in 1.0f64..5000.0, t in 0.0f64..50_000.0, dt in 0.0f64..1000.0) {
        prop_assert!(phi(t + dt, mean, sd) >= phi(t, mean, sd) - 1e-9);
    }
}
