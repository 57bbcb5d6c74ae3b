//! Memory that rings live in: [`Region`], on the heap or in a shared
//! segment (`memfd_create` or `shm_open`) that a second process maps too.

use crate::arch;
use crate::error::{BuildError, Error};
use core::ptr::NonNull;
use std::alloc::{self, Layout};
use std::sync::{Arc, Mutex};

/// A block of zero-initialised, cache-line-aligned memory, on the heap or in a
/// shared-memory segment that a second process maps too.
///
/// A region is a cheap, clonable handle; the memory is freed (or unmapped)
/// when the last clone and the last ring placed in it are gone. It holds no
/// pointers of its own: rings inside it are found by offset, a multiple of
/// [`ALIGN`](Self::ALIGN).
///
/// # Named segments and cleanup
/// - [`create_named`](Self::create_named) fails if the name exists, so two
///   controllers never share a segment by accident.
/// - A name stays (in `/dev/shm`) until [`unlink`](Self::unlink) removes
///   it, so that a restarted process can map it again with
///   [`open_named`](Self::open_named). Call `unlink` when the tracer shuts
///   down for good, or [`unlink_on_drop`](Self::unlink_on_drop) to tie the
///   name to this handle's lifetime.
/// - Unlinking removes only the name: processes that have the segment mapped
///   keep using it, and the memory goes away with the last mapping.
/// - Anonymous segments ([`memfd`](Self::memfd)) have no name to leak: pass
///   the descriptor ([`fd`](Self::fd)) to the other process, which maps it
///   with [`from_fd`](Self::from_fd).
///
/// ```
/// # #[cfg(all(feature = "shm", unix))] {
/// use tracering::{EventProducer, EventRing, Region};
/// let name = format!("/tracering-doc-{}", std::process::id());
/// let region = Region::create_named(&name, EventRing::<u64>::bytes_needed(8)?)?;
/// assert!(Region::create_named(&name, 4096).is_err()); // the name is taken
/// region.unlink_on_drop(&name)?;
/// let (tx, mut rx) = EventRing::<u64>::create_in(&region, 0, 8)?.split();
/// drop(tx);
///
/// // Another process (here, this one) maps the segment by name and attaches.
/// let mapped = Region::open_named(&name)?;
/// EventProducer::<u64>::attach(&mapped, 0)?.push(42)?;
/// assert_eq!(rx.pop()?, 42);
///
/// drop((rx, region)); // the last handle to `region`: the name goes
/// assert!(Region::open_named(&name).is_err());
/// # }
/// # Ok::<(), tracering::Error>(())
/// ```
#[derive(Clone)]
pub struct Region {
    inner: Arc<Inner>,
}

struct Inner {
    base: NonNull<u8>,
    len: usize,
    backing: Backing,
    /// What this process has placed in the region. Creating a ring needs a
    /// range nobody here uses and no registry covers; attaching needs the
    /// exact range of a ring, or a free one (inside a registry, one of its
    /// lane rings). This keeps safe code in one process from building two
    /// rings over the same bytes, or a ring over a registry's.
    placed: Mutex<Placed>,
}

/// The rings and registries placed in a region by this process.
#[derive(Default)]
struct Placed {
    /// `(offset, len, users)` of each ring.
    rings: Vec<(usize, usize, usize)>,
    /// `(offset, len, lanes, users)` of each registry (header, slot table
    /// and every lane, free or not).
    registries: Vec<(usize, usize, Lanes, usize)>,
}

/// Where a registry's lane rings sit, relative to the registry's start:
/// `count` lanes of `stride` bytes from `at`, each an index ring in its
/// first `split` bytes and a detail ring in the rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Lanes {
    pub(crate) at: usize,
    pub(crate) stride: usize,
    pub(crate) split: usize,
    pub(crate) count: usize,
}

impl Lanes {
    /// Whether `[rel, rel + len)` is a ring at the start of one lane ring's
    /// space and inside it.
    fn holds_ring(&self, rel: usize, len: usize) -> bool {
        let Some(r) = rel.checked_sub(self.at) else {
            return false;
        };
        if self.stride == 0 || r / self.stride >= self.count {
            return false;
        }
        match r % self.stride {
            0 => len <= self.split,
            o if o == self.split => len <= self.stride - self.split,
            _ => false,
        }
    }
}

/// What a caller of [`Region::place`] means to do with a ring's range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Use {
    /// Build a new ring (the public constructors): the range must be unused
    /// here and outside every registry.
    Create,
    /// Attach to a ring that exists: the exact range of a ring placed here,
    /// or an unused one; inside a registry, one of its lane rings.
    Attach,
    /// Build a lane ring of a registry placed here (the registry's own
    /// path): unused here, and one of a registry's lane rings.
    Lane,
}

pub(crate) enum Backing {
    Heap(Layout),
    /// Anonymous private memory (`mmap`), whose pages cost nothing until
    /// touched.
    #[cfg(all(unix, not(miri), not(loom)))]
    Anon,
    #[cfg(all(feature = "shm", unix))]
    Mapped(shm::Mapping),
}

// SAFETY: a Region is owned memory plus (for mappings) a file descriptor;
// which thread may touch which bytes is decided by the rings placed in it.
unsafe impl Send for Inner {}
// SAFETY: `&Inner` exposes only the base pointer, length and descriptor.
unsafe impl Sync for Inner {}

impl Region {
    /// The alignment of a region's first byte, and of every offset a ring
    /// is placed at: the cache-line size the rings' headers are padded to
    /// (128 on x86_64 and aarch64, 64 elsewhere).
    pub const ALIGN: usize = crate::arch::CACHE_LINE;

    /// `len` zeroed bytes of heap memory aligned to the cache line.
    pub fn heap(len: usize) -> Result<Region, Error> {
        if len == 0 {
            return Err(BuildError::EmptyRegion.into());
        }
        let layout = Layout::from_size_align(len, arch::CACHE_LINE)
            .map_err(|_| BuildError::SizeOverflow { what: "region" })?;
        let oom = Error::Build(BuildError::OutOfMemory { bytes: len as u64 });
        // SAFETY: `layout` has a non-zero size (checked above).
        let ptr = unsafe { alloc::alloc_zeroed(layout) };
        let base = NonNull::new(ptr).ok_or(oom)?;
        Ok(Region::from_parts(base, len, Backing::Heap(layout)))
    }

    /// Heap memory holding a copy of `bytes`: for replaying a saved segment,
    /// or for fuzzing the attach path.
    pub fn copy_from(bytes: &[u8]) -> Result<Region, Error> {
        let region = Region::heap(bytes.len())?;
        // SAFETY: the new region is `bytes.len()` bytes long, writable, and
        // private to this function.
        unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), region.as_ptr(), bytes.len()) };
        Ok(region)
    }

    /// `len` zeroed bytes of this process's memory whose pages are
    /// allocated on first touch (an anonymous `mmap` without swap
    /// reservation), for a registry whose lanes are built as threads come.
    /// Falls back to [`Region::heap`] where there is no `mmap` (or under
    /// Miri).
    pub(crate) fn on_demand(len: usize) -> Result<Region, Error> {
        #[cfg(all(unix, not(miri), not(loom)))]
        {
            if len == 0 {
                return Err(BuildError::EmptyRegion.into());
            }
            #[cfg(target_os = "linux")]
            let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE;
            #[cfg(not(target_os = "linux"))]
            let flags = libc::MAP_PRIVATE | libc::MAP_ANON;
            // SAFETY: a fresh anonymous mapping; the kernel picks the
            // (page-aligned, hence line-aligned) address.
            let p = unsafe {
                libc::mmap(
                    core::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    flags,
                    -1,
                    0,
                )
            };
            if p == libc::MAP_FAILED {
                return Err(Error::Build(BuildError::OutOfMemory { bytes: len as u64 }));
            }
            let base = NonNull::new(p.cast::<u8>())
                .ok_or(Error::Build(BuildError::OutOfMemory { bytes: len as u64 }))?;
            Ok(Region::from_parts(base, len, Backing::Anon))
        }
        #[cfg(not(all(unix, not(miri), not(loom))))]
        Region::heap(len)
    }

    fn from_parts(base: NonNull<u8>, len: usize, backing: Backing) -> Region {
        Region {
            inner: Arc::new(Inner {
                base,
                len,
                backing,
                placed: Mutex::new(Placed::default()),
            }),
        }
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.inner.len
    }

    /// Always false: regions are never empty.
    pub fn is_empty(&self) -> bool {
        self.inner.len == 0
    }

    /// The first byte. Writing through it is `unsafe` and races with the rings
    /// placed in the region; it exists for tests and tools that inspect or
    /// damage a segment on purpose.
    pub fn as_ptr(&self) -> *mut u8 {
        self.inner.base.as_ptr()
    }

    /// Faults in the pages of `[offset, offset + len)` now (Linux
    /// `MADV_POPULATE_WRITE`), so that a traced thread's first laps over a
    /// fresh ring do not pay for page faults. Best effort: on an older
    /// kernel, another OS, or under Miri it does nothing, and the pages
    /// fault in on first use as before.
    pub(crate) fn prefault(&self, offset: usize, len: usize) {
        #[cfg(all(target_os = "linux", not(miri), not(loom)))]
        {
            // SAFETY: sysconf has no preconditions.
            let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) })
                .unwrap_or(4096)
                .max(1);
            let base = self.inner.base.as_ptr() as usize;
            let end = offset.saturating_add(len).min(self.inner.len);
            let (from, to) = (
                (base + offset).next_multiple_of(page),
                (base + end) / page * page,
            );
            if to > from {
                // SAFETY: [from, to) is whole pages inside this region's
                // mapping or allocation; MADV_POPULATE_WRITE only faults the
                // pages in (as a write would, without changing their bytes).
                unsafe {
                    libc::madvise(
                        from as *mut libc::c_void,
                        to - from,
                        libc::MADV_POPULATE_WRITE,
                    )
                };
            }
        }
        #[cfg(not(all(target_os = "linux", not(miri), not(loom))))]
        let _ = (offset, len);
    }

    /// Whether another process can map this memory (a shared-memory
    /// segment), so that readers must copy rather than view it.
    pub(crate) fn is_shared(&self) -> bool {
        match self.inner.backing {
            Backing::Heap(_) => false,
            #[cfg(all(unix, not(miri), not(loom)))]
            Backing::Anon => false,
            #[cfg(all(feature = "shm", unix))]
            Backing::Mapped(_) => true,
        }
    }

    pub(crate) fn base(&self) -> NonNull<u8> {
        self.inner.base
    }

    /// Registers a ring over `[offset, offset + len)`, for `how` (see
    /// [`Use`]). Refused with [`BuildError::InUse`](crate::BuildError::InUse) when it would overlap what
    /// `how` may not.
    pub(crate) fn place(&self, offset: usize, len: usize, how: Use) -> Result<Placement, Error> {
        let end = self.end_of(offset, len)?;
        let mut placed = self.inner.placed.lock().unwrap_or_else(|e| e.into_inner());
        let in_use = Err(Error::Build(BuildError::InUse {
            offset: offset as u64,
        }));
        let mut inside = false;
        for &(o, l, lanes, _) in &placed.registries {
            if !(offset < o + l && o < end) {
                continue;
            }
            if how == Use::Create || offset < o || !lanes.holds_ring(offset - o, len) {
                return in_use;
            }
            inside = true;
        }
        if how == Use::Lane && !inside {
            return in_use;
        }
        let mut same = None;
        for (i, &(o, l, _)) in placed.rings.iter().enumerate() {
            let overlaps = offset < o + l && o < end;
            if (o, l) == (offset, len) && how == Use::Attach {
                same = Some(i);
            } else if overlaps {
                return in_use;
            }
        }
        match same {
            Some(i) => placed.rings[i].2 += 1,
            None => placed.rings.push((offset, len, 1)),
        }
        Ok(Placement {
            region: self.clone(),
            offset,
            len,
            registry: false,
        })
    }

    /// Registers a registry over `[offset, offset + len)` with its lanes
    /// at `lanes`: its header, slot table and every lane ring, free or not.
    /// `create` needs the range unused here; an attach may share the
    /// identical registry, or take a range whose only rings here are its
    /// lane rings.
    pub(crate) fn place_registry(
        &self,
        offset: usize,
        len: usize,
        lanes: Lanes,
        create: bool,
    ) -> Result<Placement, Error> {
        let end = self.end_of(offset, len)?;
        let mut placed = self.inner.placed.lock().unwrap_or_else(|e| e.into_inner());
        let in_use = Err(Error::Build(BuildError::InUse {
            offset: offset as u64,
        }));
        let mut same = None;
        for (i, &(o, l, g, _)) in placed.registries.iter().enumerate() {
            if (o, l, g) == (offset, len, lanes) && !create {
                same = Some(i);
            } else if offset < o + l && o < end {
                return in_use;
            }
        }
        for &(o, l, _) in &placed.rings {
            let overlaps = offset < o + l && o < end;
            if overlaps && (create || o < offset || !lanes.holds_ring(o - offset, l)) {
                return in_use;
            }
        }
        match same {
            Some(i) => placed.registries[i].3 += 1,
            None => placed.registries.push((offset, len, lanes, 1)),
        }
        Ok(Placement {
            region: self.clone(),
            offset,
            len,
            registry: true,
        })
    }

    /// The end of `[offset, offset + len)`, if the region holds it.
    fn end_of(&self, offset: usize, len: usize) -> Result<usize, Error> {
        let end = offset.checked_add(len).filter(|&e| e <= self.inner.len);
        end.ok_or(Error::Build(BuildError::RegionTooSmall {
            needed: offset as u64 + len as u64,
            len: self.inner.len as u64,
        }))
    }
}

/// A ring's (or a registry's) registration in a [`Region`]; keeps the
/// memory alive and unregisters the range when dropped.
pub(crate) struct Placement {
    region: Region,
    offset: usize,
    len: usize,
    registry: bool,
}

impl Placement {
    pub(crate) fn region(&self) -> &Region {
        &self.region
    }
}

impl Drop for Placement {
    fn drop(&mut self) {
        let mut placed = self
            .region
            .inner
            .placed
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let (at, len) = (self.offset, self.len);
        if self.registry {
            let list = &mut placed.registries;
            if let Some(i) = list.iter().position(|&(o, l, ..)| (o, l) == (at, len)) {
                list[i].3 -= 1;
                if list[i].3 == 0 {
                    list.swap_remove(i);
                }
            }
        } else {
            let list = &mut placed.rings;
            if let Some(i) = list.iter().position(|&(o, l, _)| (o, l) == (at, len)) {
                list[i].2 -= 1;
                if list[i].2 == 0 {
                    list.swap_remove(i);
                }
            }
        }
    }
}

impl core::fmt::Debug for Region {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let kind = match &self.inner.backing {
            Backing::Heap(_) => "heap",
            #[cfg(all(unix, not(miri), not(loom)))]
            Backing::Anon => "heap",
            #[cfg(all(feature = "shm", unix))]
            Backing::Mapped(_) => "shared",
        };
        f.debug_struct("Region")
            .field("kind", &kind)
            .field("len", &self.inner.len)
            .finish()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        match &self.backing {
            Backing::Heap(layout) => {
                // SAFETY: `base` came from `alloc_zeroed` with exactly `layout`.
                unsafe { alloc::dealloc(self.base.as_ptr(), *layout) }
            }
            #[cfg(all(unix, not(miri), not(loom)))]
            Backing::Anon => {
                // SAFETY: base/len are exactly the mapping made in
                // `on_demand`; no ring can use it any more (this runs when
                // the last handle drops).
                unsafe { libc::munmap(self.base.as_ptr().cast(), self.len) };
            }
            #[cfg(all(feature = "shm", unix))]
            Backing::Mapped(m) => m.unmap(self.base, self.len),
        }
    }
}

#[cfg(all(feature = "shm", unix))]
mod shm {
    //! POSIX and Linux shared memory through libc.

    use super::{Backing, Region};
    use crate::error::{BuildError, Error};
    use core::ptr::NonNull;
    use std::ffi::CString;
    use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

    /// A mapped segment's descriptor and, optionally, a name to unlink.
    pub(crate) struct Mapping {
        fd: OwnedFd,
        unlink: std::sync::Mutex<Option<CString>>,
    }

    impl Mapping {
        pub(crate) fn unmap(&self, base: NonNull<u8>, len: usize) {
            // SAFETY: base/len are exactly the mapping made in `map`; no ring
            // can use it any more (this runs when the last handle drops).
            unsafe { libc::munmap(base.as_ptr().cast(), len) };
            if let Some(name) = self.unlink.lock().ok().and_then(|mut n| n.take()) {
                // SAFETY: `name` is a valid NUL-terminated string.
                unsafe { libc::shm_unlink(name.as_ptr()) };
            }
        }
    }

    fn os_error(op: &'static str) -> Error {
        Error::Build(BuildError::Os {
            op,
            errno: std::io::Error::last_os_error().raw_os_error().unwrap_or(0),
        })
    }

    /// Checks a POSIX shared-memory name: one leading '/', no other '/',
    /// 2..=255 bytes, no NUL.
    fn shm_name(name: &str) -> Result<CString, Error> {
        let ok = name.len() >= 2
            && name.len() <= 255
            && name.starts_with('/')
            && !name[1..].contains('/');
        let c = CString::new(name).ok().filter(|_| ok);
        c.ok_or(Error::Build(BuildError::InvalidName))
    }

    /// Maps all of `fd` read-write and shared.
    fn map(fd: OwnedFd, len: usize) -> Result<Region, Error> {
        if len == 0 {
            return Err(BuildError::EmptyRegion.into());
        }
        // SAFETY: a fresh shared mapping of a descriptor we own; the kernel
        // picks the (page-aligned) address.
        let p = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(os_error("mmap"));
        }
        let base = NonNull::new(p.cast::<u8>())
            .ok_or(Error::Build(BuildError::OutOfMemory { bytes: len as u64 }))?;
        let mapping = Mapping {
            fd,
            unlink: std::sync::Mutex::new(None),
        };
        Ok(Region::from_parts(base, len, Backing::Mapped(mapping)))
    }

    /// Sizes a new segment and maps it.
    fn size_and_map(fd: OwnedFd, len: usize) -> Result<Region, Error> {
        let size = libc::off_t::try_from(len).map_err(|_| {
            Error::Build(BuildError::SizeOverflow {
                what: "shared-memory segment",
            })
        })?;
        // SAFETY: `fd` is an open, writable descriptor we own.
        if unsafe { libc::ftruncate(fd.as_raw_fd(), size) } != 0 {
            return Err(os_error("ftruncate"));
        }
        map(fd, len)
    }

    /// The size of the object behind `fd`.
    fn fd_len(fd: &OwnedFd) -> Result<usize, Error> {
        // SAFETY: zeroed `stat` is a valid out-parameter.
        let mut st: libc::stat = unsafe { core::mem::zeroed() };
        // SAFETY: `fd` is open; `st` is writable.
        if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
            return Err(os_error("fstat"));
        }
        usize::try_from(st.st_size).map_err(|_| {
            Error::Build(BuildError::Os {
                op: "fstat",
                errno: libc::EOVERFLOW,
            })
        })
    }

    #[cfg_attr(docsrs, doc(cfg(all(feature = "shm", unix))))]
    impl Region {
        /// An anonymous shared segment of `len` zeroed bytes (Linux
        /// `memfd_create`). Hand [`fd`](Region::fd) to the other process.
        /// The descriptor is close-on-exec; clear that flag (or pass it over a
        /// Unix socket) to share it with a child.
        #[cfg(target_os = "linux")]
        pub fn memfd(debug_name: &str, len: usize) -> Result<Region, Error> {
            let name =
                CString::new(debug_name).map_err(|_| Error::Build(BuildError::InvalidName))?;
            // SAFETY: `name` is NUL-terminated; the flags are valid.
            let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
            if fd < 0 {
                return Err(os_error("memfd_create"));
            }
            // SAFETY: memfd_create returned a fresh descriptor that we own.
            size_and_map(unsafe { OwnedFd::from_raw_fd(fd) }, len)
        }

        /// Creates the named segment `name` (like `/my-tracer`) of `len`
        /// zeroed bytes. Fails if it already exists. See the module docs for
        /// when the name is removed.
        pub fn create_named(name: &str, len: usize) -> Result<Region, Error> {
            let c = shm_name(name)?;
            // SAFETY: `c` is NUL-terminated; flags and mode are valid.
            let fd = unsafe {
                libc::shm_open(
                    c.as_ptr(),
                    libc::O_CREAT | libc::O_EXCL | libc::O_RDWR,
                    0o600,
                )
            };
            if fd < 0 {
                return Err(os_error("shm_open"));
            }
            // SAFETY: shm_open returned a fresh descriptor that we own.
            let region = size_and_map(unsafe { OwnedFd::from_raw_fd(fd) }, len);
            if region.is_err() {
                // SAFETY: `c` is NUL-terminated; we created this name.
                unsafe { libc::shm_unlink(c.as_ptr()) };
            }
            region
        }

        /// Maps the existing named segment `name`, whole.
        pub fn open_named(name: &str) -> Result<Region, Error> {
            let c = shm_name(name)?;
            // SAFETY: `c` is NUL-terminated; flags are valid.
            let fd = unsafe { libc::shm_open(c.as_ptr(), libc::O_RDWR, 0) };
            if fd < 0 {
                return Err(os_error("shm_open"));
            }
            // SAFETY: shm_open returned a fresh descriptor that we own.
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            let len = fd_len(&fd)?;
            map(fd, len)
        }

        /// Maps the whole segment behind a descriptor received from another
        /// process.
        pub fn from_fd(fd: OwnedFd) -> Result<Region, Error> {
            let len = fd_len(&fd)?;
            map(fd, len)
        }

        /// Removes the name `name` from the system. Mappings stay valid.
        pub fn unlink(name: &str) -> Result<(), Error> {
            let c = shm_name(name)?;
            // SAFETY: `c` is NUL-terminated.
            if unsafe { libc::shm_unlink(c.as_ptr()) } != 0 {
                return Err(os_error("shm_unlink"));
            }
            Ok(())
        }

        /// Unlinks `name` when the last handle to this region (and every ring
        /// in it) is dropped. Does nothing for heap regions.
        pub fn unlink_on_drop(&self, name: &str) -> Result<(), Error> {
            let c = shm_name(name)?;
            if let Backing::Mapped(m) = &self.inner.backing {
                if let Ok(mut slot) = m.unlink.lock() {
                    *slot = Some(c);
                }
            }
            Ok(())
        }

        /// The segment's descriptor, for passing to another process (`None`
        /// for heap regions).
        pub fn fd(&self) -> Option<BorrowedFd<'_>> {
            match &self.inner.backing {
                Backing::Mapped(m) => Some(m.fd.as_fd()),
                _ => None,
            }
        }
    }
}
