use super::*;

/// The thread that asks is lowered; the thread that spawned it is not.
#[test]
fn only_the_calling_thread_is_lowered() {
    let nice = || unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) };
    let before = nice();
    let lowered = std::thread::spawn(move || {
        lower_priority();
        nice()
    })
    .join()
    .unwrap();
    assert_eq!(lowered, (before + NICER_BY).min(19));
    assert_eq!(nice(), before);
}
