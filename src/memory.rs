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
//! training step's freed activations stay resident that way: each quickstart step took the
//! process from about 0.78 to 1.1–1.6 GiB, where its live memory is under 0.15 GiB above
//! the model. [`give_back_freed`] hands those pages back; the CLI calls it between training
//! steps. It does not reach inside a step: for that, `TUNEBENCH_GIVE_BACK_MS` starts a
//! [`GivingBack`] thread that hands them back at that interval for the whole process.
//! `scripts/tch-env.sh` sets it to 300 for libtorch processes, with glibc's mmap threshold
//! fixed at 4 MiB: the 400-step quickstart on libtorch then peaks at 1.16 GiB instead of
//! 1.4–1.7, for 14% more training time (BENCHMARKS.md, "libtorch's memory").

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

/// A thread that gives freed heap memory back at a fixed interval, until dropped.
pub struct GivingBack {
    stop: std::sync::mpsc::Sender<()>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl GivingBack {
    /// Starts giving freed memory back every `interval`.
    pub fn every(interval: std::time::Duration) -> Self {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                stopped.recv_timeout(interval)
            {
                give_back_freed();
            }
        });
        GivingBack {
            stop,
            thread: Some(thread),
        }
    }

    /// The thread `TUNEBENCH_GIVE_BACK_MS` asks for (milliseconds between two trims), if it
    /// is set; a value that is not a positive whole number is an error naming the variable.
    pub fn from_env() -> Result<Option<Self>, String> {
        let Ok(value) = std::env::var("TUNEBENCH_GIVE_BACK_MS") else {
            return Ok(None);
        };
        match value.trim().parse::<u64>() {
            Ok(ms) if ms > 0 => Ok(Some(GivingBack::every(std::time::Duration::from_millis(
                ms,
            )))),
            _ => Err(format!(
                "TUNEBENCH_GIVE_BACK_MS = `{value}` is not a number of milliseconds\nhint: set it to a positive whole number (scripts/tch-env.sh uses 300), or unset it"
            )),
        }
    }
}

impl Drop for GivingBack {
    fn drop(&mut self) {
        let _ = self.stop.send(());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

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
        let (kept, before) = freed_inside_the_heap();
        give_back_freed();
        let after = resident_mib();
        assert!(
            before - after > 100.0,
            "resident {before:.0} MiB before, {after:.0} MiB after (of 256 MiB, 248 freed)"
        );
        drop(kept);
    }

    /// Freed heap blocks pinned inside the heap (a live block after each freed stretch), and
    /// the process's resident memory with them.
    fn freed_inside_the_heap() -> (Vec<Vec<u8>>, f64) {
        // 64 KiB blocks are below glibc's mmap threshold, so they come from the heap.
        let mut blocks: Vec<Vec<u8>> = (0..4096).map(|_| vec![1u8; 64 * 1024]).collect();
        let kept: Vec<Vec<u8>> = blocks.iter_mut().step_by(32).map(std::mem::take).collect();
        drop(blocks);
        (kept, resident_mib())
    }

    /// The thread gives freed memory back without being asked, and stops when dropped.
    #[test]
    fn giving_back_runs_at_its_interval_until_dropped() {
        let giving_back = GivingBack::every(std::time::Duration::from_millis(20));
        let (kept, before) = freed_inside_the_heap();
        std::thread::sleep(std::time::Duration::from_millis(300));
        let after = resident_mib();
        assert!(
            before - after > 100.0,
            "resident {before:.0} MiB before, {after:.0} MiB after (of 256 MiB, 248 freed)"
        );
        let started = std::time::Instant::now();
        drop(giving_back);
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        drop(kept);
    }
}
