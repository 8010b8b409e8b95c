//! How the process's heap reuses memory between threads.
//!
//! glibc's malloc gives threads arenas of their own, and memory freed into one arena stays
//! with the process for that arena alone. `tunebench run` trains on one thread and evaluates
//! on another (each local model answers on its own thread), so eval's models used to load
//! beside the ~400 MB that training had freed, still resident: the quickstart peaked at
//! 2.2 GB where training alone peaks at 1.3 GB. With one arena for every thread, what
//! training frees is what eval's models are loaded into. Measured in BENCHMARKS.md ("Peak
//! memory of the quickstart"): the training step is no slower (within 1–2%).

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
