//! Memory handed back to the kernel.
//!
//! Exporting a large fleet (a metrics scrape, a state file's snapshot)
//! allocates megabytes for a moment and frees them; the allocator would
//! keep the freed pages for later, and the process would look as if each
//! node cost that much for good. The threads that do the exporting hand
//! them back when they are done.

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
