//! One registry slot and its life cycle, in one place.
//!
//! ```text
//! FREE --claim (CAS, generation + 1)--> ACTIVE --the thread's lane drops--> RETIRED
//!   ^                                      |                                  |
//!   |                                      | (its process died)               |
//!   +------ recycle (CAS): the drain emptied and reset the rings <------------+
//! ```
//! The state word is `generation << 2 | state`. The generation grows with
//! each claim, so a recycled slot is a new lane. [`Slot`] holds the only code
//! that changes the word; the registry claims and retires, the drain
//! recycles.

use crate::arch;
use crate::layout::line_struct;
use crate::sync::atomic::AtomicU64;

line_struct! {
    /// A slot's shared line, written by the thread that holds the slot and,
    /// when it recycles a retired slot, by the drain.
    pub(crate) struct SlotLine {
        /// `generation << 2 | state`.
        pub(crate) state: AtomicU64,
        /// OS thread id of the holder.
        pub(crate) tid: AtomicU64,
        /// Index-ring drops the drain has already reported (drain-written, so a
        /// restarted controller goes on from here).
        pub(crate) reported_event_drops: AtomicU64,
        /// Detail-ring drops the drain has already reported.
        pub(crate) reported_record_drops: AtomicU64,
        /// 1 once the slot's two rings are built. A heap registry builds a
        /// lane when its slot is first claimed (the claimer stores this
        /// after building, release); a shared one builds every lane when it
        /// is made.
        pub(crate) built: AtomicU64,
        /// Process id of the holder.
        pub(crate) pid: AtomicU64,
        /// The holder's process name: up to 16 bytes, zero-padded, in two
        /// little-endian words.
        pub(crate) process: [AtomicU64; 2],
    }
}

#[cfg(loom)]
impl SlotLine {
    /// A line of zeroed atomics, for loom, whose atomics must be built.
    #[cfg(loom)]
    pub(crate) fn zeroed() -> SlotLine {
        SlotLine {
            state: AtomicU64::new(0),
            tid: AtomicU64::new(0),
            reported_event_drops: AtomicU64::new(0),
            reported_record_drops: AtomicU64::new(0),
            built: AtomicU64::new(0),
            pid: AtomicU64::new(0),
            process: [AtomicU64::new(0), AtomicU64::new(0)],
        }
    }
}

/// Where a slot is in its life cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    /// No thread holds it; its rings are empty and reset.
    Free,
    /// A thread holds it and writes its rings.
    Active,
    /// Its thread let go; the drain empties it, then frees it.
    Retired,
}

/// One load of a slot's state word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Word(u64);

impl Word {
    /// The state (a corrupt value 3 reads as retired: the drain empties the
    /// slot and frees it).
    pub(crate) fn state(self) -> State {
        match self.0 & 3 {
            0 => State::Free,
            1 => State::Active,
            _ => State::Retired,
        }
    }

    /// How many times the slot has been claimed.
    pub(crate) fn generation(self) -> u64 {
        self.0 >> 2
    }
}

const FREE: u64 = 0;
const ACTIVE: u64 = 1;
const RETIRED: u64 = 2;

/// A slot's line with its life-cycle transitions.
#[derive(Clone, Copy)]
pub(crate) struct Slot<'a> {
    pub(crate) line: &'a SlotLine,
}

impl Slot<'_> {
    /// The state word, acquiring what the holder wrote before it (the drain
    /// reads it before the rings).
    pub(crate) fn load(self) -> Word {
        Word(arch::load_acquire(&self.line.state))
    }

    /// FREE → ACTIVE for thread `tid` (also RETIRED → ACTIVE if
    /// `take_retired`: a flight recorder's slots need no drain between
    /// threads); returns the new generation, or `None` if the slot is taken
    /// or another thread won it.
    pub(crate) fn claim(self, tid: u64, take_retired: bool) -> Option<u64> {
        let cur = arch::load_relaxed(&self.line.state);
        if cur & 3 != FREE && !(take_retired && cur & 3 == RETIRED) {
            return None;
        }
        let generation = (cur >> 2).wrapping_add(1);
        arch::cas(&self.line.state, cur, generation << 2 | ACTIVE).ok()?;
        arch::store_relaxed(&self.line.tid, tid);
        let (pid, name) = this_process();
        arch::store_relaxed(&self.line.pid, pid);
        arch::store_relaxed(&self.line.process[0], name[0]);
        arch::store_relaxed(&self.line.process[1], name[1]);
        Some(generation)
    }

    /// ACTIVE → RETIRED: the holder is done (after releasing its rings).
    pub(crate) fn retire(self, generation: u64) {
        arch::store_release(&self.line.state, generation << 2 | RETIRED);
    }

    /// → FREE, if the word is still `seen`: the drain has emptied and reset
    /// the rings and zeroed the drop counters it reported. Returns whether
    /// the slot was freed.
    pub(crate) fn recycle(self, seen: Word) -> bool {
        arch::store_relaxed(&self.line.reported_event_drops, 0);
        arch::store_relaxed(&self.line.reported_record_drops, 0);
        arch::cas(&self.line.state, seen.0, (seen.0 & !3) | FREE).is_ok()
    }

    /// Every word zeroed: a fresh slot in a registry being built.
    pub(crate) fn reset(self) {
        let l = self.line;
        for w in [
            &l.state,
            &l.tid,
            &l.reported_event_drops,
            &l.reported_record_drops,
            &l.built,
            &l.pid,
            &l.process[0],
            &l.process[1],
        ] {
            arch::store_relaxed(w, 0);
        }
    }

    /// Whether the slot's rings are built (acquiring the building).
    pub(crate) fn built(self) -> bool {
        arch::load_acquire(&self.line.built) == 1
    }

    /// Marks the slot's rings built (releasing the building).
    pub(crate) fn set_built(self) {
        arch::store_release(&self.line.built, 1);
    }

    /// The holder's OS thread id.
    pub(crate) fn tid(self) -> u64 {
        arch::load_relaxed(&self.line.tid)
    }

    /// The holder's process id (a value that is no pid reads as 0).
    pub(crate) fn pid(self) -> u32 {
        u32::try_from(arch::load_relaxed(&self.line.pid)).unwrap_or(0)
    }

    /// The holder's process name, as it wrote it (at most 16 bytes; the
    /// bytes are the peer's: read them as lossy UTF-8).
    pub(crate) fn process_name(self) -> [u8; 16] {
        let mut name = [0u8; 16];
        name[..8].copy_from_slice(&arch::load_relaxed(&self.line.process[0]).to_le_bytes());
        name[8..].copy_from_slice(&arch::load_relaxed(&self.line.process[1]).to_le_bytes());
        name
    }
}

/// This process's id and name (`/proc/self/comm` on Linux, else the
/// executable's file name), cut to 16 bytes; read once per process.
fn this_process() -> (u64, [u64; 2]) {
    use std::sync::Mutex;
    static CACHE: Mutex<(u64, [u64; 2])> = Mutex::new((0, [0; 2]));
    let pid = std::process::id() as u64;
    let mut cached = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if cached.0 != pid {
        // Miri's isolation refuses file system access.
        let comm = if cfg!(miri) {
            None
        } else {
            std::fs::read_to_string("/proc/self/comm").ok()
        };
        let name = comm
            .map(|s| s.trim_end().to_owned())
            .or_else(|| {
                if cfg!(miri) {
                    return None;
                }
                let exe = std::env::current_exe().ok()?;
                Some(exe.file_name()?.to_string_lossy().into_owned())
            })
            .unwrap_or_default();
        let mut bytes = [0u8; 16];
        let n = name.len().min(16);
        bytes[..n].copy_from_slice(&name.as_bytes()[..n]);
        let word = |i: usize| u64::from_le_bytes(bytes[i..i + 8].try_into().unwrap_or([0; 8]));
        *cached = (pid, [word(0), word(8)]);
    }
    *cached
}
