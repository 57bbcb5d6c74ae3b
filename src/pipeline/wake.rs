//! Sleeping and waking the drain.
//!
//! The drain sleeps on a 32-bit word of the registry header while every lane
//! is below its watermark. A producer that finds itself at or above the
//! watermark while the word says "asleep" clears it and wakes the drain.
//!
//! On Linux this is a futex on the shared word: it works across processes
//! (an agent wakes the controller's drain), and the syscall happens only
//! when a producer actually finds the drain asleep. Elsewhere the drain
//! parks with the same timeout and an in-process waker unparks it; a
//! producer in another process cannot wake it there, so it wakes at the
//! timeout (the drain's period) at the latest.

use crate::sync::atomic::AtomicU32;
use std::time::Duration;

/// Whether a producer in another process can wake the drain (a futex on the
/// shared word); otherwise the in-process waker unparks it as well.
pub(crate) const SHARED: bool = cfg!(all(target_os = "linux", not(loom)));

/// Sleeps while `word` holds `expected`, for at most `timeout` (spurious
/// wake-ups are allowed; callers recheck).
pub(crate) fn wait(word: &AtomicU32, expected: u32, timeout: Duration) {
    imp::wait(word, expected, timeout)
}

/// Wakes every thread sleeping in [`wait`] on `word`.
pub(crate) fn wake(word: &AtomicU32) {
    imp::wake(word)
}

#[cfg(all(target_os = "linux", not(loom)))]
mod imp {
    use super::{AtomicU32, Duration};

    pub(super) fn wait(word: &AtomicU32, expected: u32, timeout: Duration) {
        let ts = libc::timespec {
            tv_sec: timeout.as_secs().min(i32::MAX as u64) as libc::time_t,
            tv_nsec: timeout.subsec_nanos() as libc::c_long,
        };
        // SAFETY: FUTEX_WAIT reads the aligned u32 behind `word` (an atomic
        // that outlives the call) and sleeps only while it equals
        // `expected`; the timeout is a valid relative timespec. Not
        // FUTEX_PRIVATE: the word may be in memory another process maps.
        // The result does not matter: timeouts, EAGAIN and EINTR all return
        // to a caller that rechecks.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                word.as_ptr(),
                libc::FUTEX_WAIT,
                expected,
                &ts as *const libc::timespec,
                core::ptr::null::<u32>(),
                0u32,
            );
        }
    }

    pub(super) fn wake(word: &AtomicU32) {
        // SAFETY: FUTEX_WAKE only uses the address of the aligned u32 behind
        // `word` as a key; it reads and writes no memory.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                word.as_ptr(),
                libc::FUTEX_WAKE,
                i32::MAX,
                core::ptr::null::<libc::timespec>(),
                core::ptr::null::<u32>(),
                0u32,
            );
        }
    }
}

#[cfg(not(all(target_os = "linux", not(loom))))]
mod imp {
    use super::{AtomicU32, Duration};

    pub(super) fn wait(word: &AtomicU32, expected: u32, timeout: Duration) {
        if crate::arch::load_relaxed32(word) == expected {
            std::thread::park_timeout(timeout);
        }
    }

    pub(super) fn wake(_word: &AtomicU32) {
        // The in-process waker (`Registry::wake_drain`) unparks the drain.
    }
}
