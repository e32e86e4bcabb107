//! Threads that export beside a detector's loop: answering a metrics
//! scrape, writing the state file.
//!
//! They run at a lower priority than the loop, so that on a machine short
//! of CPU an export takes longer rather than the loop falling behind its
//! socket, whose overflow would be beats lost. And exporting a large fleet
//! allocates megabytes for a moment and frees them; the allocator would
//! keep the freed pages for later, and the process would look as if each
//! node cost that much for good: the exporting threads hand them back when
//! they are done.

/// How much lower than the loop the calling thread runs: at nice 5 it gets
/// about a third of the CPU a thread at nice 0 gets when both want it, so
/// an export still ends in time on a machine short of CPU, as it would
/// not at nice 10 (a scrape of 100,000 nodes took 2.4-3.9 s there, under
/// a sender that kept both cores busy).
const NICER_BY: i32 = 5;

/// Lowers the calling thread's priority (on Linux the nice value belongs
/// to a thread, not to the whole process). Best effort: a system that
/// refuses it leaves the thread as it was, which costs only speed.
pub fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: gettid and setpriority take plain integers and touch only
    // the calling thread's scheduling.
    unsafe {
        let tid = libc::gettid();
        let now = libc::getpriority(libc::PRIO_PROCESS, tid as libc::id_t);
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, now + NICER_BY);
    }
}

/// Returns the pages the allocator holds free to the kernel. A few
/// milliseconds at most, once per scrape or snapshot.
pub fn release_freed() {
    // glibc's allocator keeps freed pages in its arenas; others (musl)
    // return large blocks by themselves.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists, under
    // its own locks; it takes no pointer from us.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests;
