//! How the process's heap reuses memory between threads.
//!
//! glibc's malloc gives threads arenas of their own, and memory freed into one arena stays
//! with the process for that arena alone. `tunebench run` trains on one thread and evaluates
//! on another (each local model answers on its own thread), so eval's models used to load
//! beside the ~400 MB that training had freed, still resident: the quickstart peaked at
//! 2.2 GB where training alone peaks at 1.3 GB. With one arena for every thread, what
//! training frees is what eval's models are loaded into. Measured in BENCHMARKS.md ("Peak
//! memory of the quickstart"): the training step is no slower (within 1–2%).
//!
//! glibc also keeps what is freed inside its heap as the process's own, and returns only a
//! free stretch at the heap's top. On libtorch, whose tensors are malloc'd one by one, a
//! training step's freed activations stay resident that way: each quickstart step takes the
//! process from about 0.78 to 1.1–1.3 GiB, where its live memory is under 0.15 GiB above the
//! model, and without a trim what stays resident is the most any step ever left.
//! [`give_back_freed`] hands those pages back; the CLI calls it between training steps, so
//! the process falls back to about 0.78 GiB after each (BENCHMARKS.md, "libtorch's memory").

/// Sets the heap up as the module docs say; call it first thing in `main`, before any
/// other thread starts. Elsewhere than on glibc, it does nothing.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn share_one_arena() {
    // SAFETY: mallopt only sets one of malloc's tuning parameters, a plain integer; it is
    // called from `main` before any other thread exists. (M_ARENA_MAX accepts any positive
    // value, so its result is not checked.)
    unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) };
}

/// Sets the heap up as the module docs say (glibc only; elsewhere it does nothing).
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn share_one_arena() {}

/// Gives the pages of freed heap memory back to the system (glibc's `malloc_trim`): free
/// stretches anywhere in the heap, not only at its top. The memory stays the heap's to reuse;
/// touching it again costs a page fault.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn give_back_freed() {
    // SAFETY: malloc_trim takes the heap's lock and only releases pages of free chunks; any
    // thread may call it at any time. Its result (whether anything was released) is not needed.
    unsafe { libc::malloc_trim(0) };
}

/// Gives freed heap memory back (glibc only; elsewhere it does nothing).
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn give_back_freed() {}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    use super::*;

    /// Resident memory of this process in MiB (`/proc/self/statm`, second field, in pages).
    fn resident_mib() -> f64 {
        let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
        let pages: f64 = statm
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse().ok())
            .unwrap_or(0.0);
        pages * 4096.0 / (1024.0 * 1024.0)
    }

    /// Blocks freed in the middle of the heap (kept from its top by a live block after each
    /// stretch) stay resident until `give_back_freed`, which returns them.
    #[test]
    fn freed_blocks_inside_the_heap_go_back_to_the_system() {
        // 64 KiB blocks are below glibc's mmap threshold, so they come from the heap.
        let mut blocks: Vec<Vec<u8>> = (0..4096).map(|_| vec![1u8; 64 * 1024]).collect();
        let kept: Vec<Vec<u8>> = blocks.iter_mut().step_by(32).map(std::mem::take).collect();
        drop(blocks);
        let before = resident_mib();
        give_back_freed();
        let after = resident_mib();
        assert!(
            before - after > 100.0,
            "resident {before:.0} MiB before, {after:.0} MiB after (of 256 MiB, 248 freed)"
        );
        drop(kept);
    }
}
