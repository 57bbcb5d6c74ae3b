//! Which process holds each side of a ring, so that one side can tell a peer
//! that is gone from a peer that is idle.
//!
//! Each side's line carries a [`SideOwner`]: a liveness word
//! (`epoch << 2 | state`), the holder's pid and its start time. A side is
//! claimed with a compare-and-swap (a cold path: construction and attach
//! only), so one process can never hold the same side twice, and released
//! when its handle drops. A holder whose process no longer exists, or whose
//! pid now belongs to a process with another start time, is reported dead,
//! and its side may be claimed again.

use crate::arch;
use crate::error::{BuildError, Error};
use crate::layout::SideOwner;
use core::ptr::NonNull;

const NEVER: u64 = 0;
const HELD: u64 = 1;
const RELEASED: u64 = 2;
const CLAIMING: u64 = 3;

/// What one side of a ring knows about the process holding the other side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    /// Nobody has held that side yet.
    Never,
    /// Held by a live process.
    Alive {
        /// Its process id.
        pid: u32,
    },
    /// Its holder dropped it cleanly.
    Released {
        /// The last holder's process id.
        pid: u32,
    },
    /// Held by a process that no longer exists: it crashed or was killed.
    /// Everything it committed before dying can still be read.
    Dead {
        /// The dead holder's process id.
        pid: u32,
    },
}

/// This process's pid and start time (cached; recomputed after a fork).
fn me() -> (u64, u64) {
    use std::sync::Mutex;
    static ME: Mutex<(u64, u64)> = Mutex::new((0, 0));
    let pid = std::process::id() as u64;
    let mut cached = ME.lock().unwrap_or_else(|e| e.into_inner());
    if cached.0 != pid {
        *cached = (pid, start_time(pid));
    }
    *cached
}

/// A process's start time in clock ticks since boot (field 22 of
/// `/proc/<pid>/stat`), or 0 where that cannot be read.
fn start_time(pid: u64) -> u64 {
    if cfg!(miri) || !cfg!(target_os = "linux") {
        return 0;
    }
    // "/proc/./<pid>" is the same file to the kernel, but user-mode
    // emulators (qemu-user) only recognise "/proc/self" and "/proc/<own pid>"
    // as the guest's own and fake their contents; this spelling gets the real
    // start time that every other process sees.
    let Ok(stat) = std::fs::read_to_string(format!("/proc/./{pid}/stat")) else {
        return 0;
    };
    // The command name may contain spaces; fields resume after its ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    rest.split_whitespace()
        .nth(19)
        .and_then(|f| f.parse().ok())
        .unwrap_or(0)
}

/// Whether `pid` (started at `start`) still runs.
fn alive(pid: u64, start: u64) -> bool {
    let (my_pid, my_start) = me();
    if pid == my_pid {
        return start == my_start;
    }
    if cfg!(miri) {
        return true;
    }
    let Ok(p) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if p <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks that the process exists; nothing is sent.
    let rc = unsafe { libc::kill(p, 0) };
    let exists = rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    exists && (start == 0 || start_time(pid) == start)
}

/// Reports the holder of the side that `o` describes.
pub(crate) fn status(o: &SideOwner) -> Peer {
    let live = arch::load_acquire(&o.liveness);
    let pid = arch::load_relaxed(&o.pid);
    let start = arch::load_relaxed(&o.start);
    let p32 = pid as u32;
    match live & 3 {
        NEVER => Peer::Never,
        RELEASED => Peer::Released { pid: p32 },
        _ if alive(pid, start) => Peer::Alive { pid: p32 },
        _ => Peer::Dead { pid: p32 },
    }
}

/// A held side; releases it when dropped.
pub(crate) struct Claim {
    /// The side's record in a ring header that outlives this Claim.
    owner: NonNull<SideOwner>,
}

// SAFETY: a Claim only touches atomics of a header that its holder keeps
// alive (see `take`).
unsafe impl Send for Claim {}

impl Claim {
    /// Claims the side that `owner` describes, unless a live process (this
    /// one included) holds it.
    ///
    /// # Safety
    /// `owner` must point to an initialised `SideOwner` that stays valid
    /// until the returned Claim is dropped.
    pub(crate) unsafe fn take(owner: NonNull<SideOwner>) -> Result<Claim, Error> {
        // SAFETY: valid for the Claim's lifetime, per the caller; only
        // atomics are reached through it.
        let o = unsafe { owner.as_ref() };
        let (pid, start) = me();
        loop {
            let cur = arch::load_acquire(&o.liveness);
            match cur & 3 {
                CLAIMING => return Err(Error::Build(BuildError::SideTaken { pid: None })),
                HELD => {
                    let holder = arch::load_relaxed(&o.pid);
                    if alive(holder, arch::load_relaxed(&o.start)) {
                        return Err(Error::Build(BuildError::SideTaken {
                            pid: Some(holder as u32),
                        }));
                    }
                }
                _ => {}
            }
            let epoch = (cur >> 2).wrapping_add(1);
            if arch::cas(&o.liveness, cur, epoch << 2 | CLAIMING).is_ok() {
                arch::store_relaxed(&o.pid, pid);
                arch::store_relaxed(&o.start, start);
                arch::store_release(&o.liveness, epoch << 2 | HELD);
                return Ok(Claim { owner });
            }
        }
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        // SAFETY: `take`'s caller keeps the SideOwner valid until now.
        let o = unsafe { self.owner.as_ref() };
        let cur = arch::load_relaxed(&o.liveness);
        if cur & 3 == HELD && arch::load_relaxed(&o.pid) == std::process::id() as u64 {
            arch::store_release(&o.liveness, (cur & !3) | RELEASED);
        }
    }
}
