use super::*;

#[test]
fn a_run_may_take_until_its_next_due_time_unless_told() {
    let plan = Plan {
        schedule: Some(Schedule::Every(60_000)),
        grace_ms: 1000,
        max_run_ms: None,
    };
    let due = plan.due_after(1_000_000);
    assert_eq!(
        due,
        Some(Due {
            due_ms: 1_060_000,
            grace_ms: 1000
        })
    );
    assert_eq!(plan.max_run_at(1_000_000, due), Some(60_000));
    let told = Plan {
        max_run_ms: Some(5000),
        ..plan
    };
    assert_eq!(told.max_run_at(1_000_000, due), Some(5000));
    let unscheduled = Plan {
        schedule: None,
        grace_ms: 0,
        max_run_ms: None,
    };
    assert_eq!(unscheduled.due_after(1_000_000), None);
    assert_eq!(unscheduled.max_run_at(1_000_000, None), None);
}
