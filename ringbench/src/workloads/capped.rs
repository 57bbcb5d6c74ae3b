//! Temporary files that stay small: the file-writing rows of
//! `tracing_layer` write hundreds of MB/s, so a run of a quarter second
//! would leave a file of that size behind it (a whole report used to write
//! about 2.9 GB). Both writers here keep the bytes flowing through the same
//! system calls into the page cache, but start the file over once it holds
//! [`FILE_CAP`] bytes, so no temporary file grows past that.

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use tracering::clock::{Nanos, Timebase};
use tracering::pipeline::{Batch, FileSink, LaneEvent, LaneId, Sink};
use tracering::{Error, Record};

/// The largest a temporary file of the report grows: 16 MiB.
pub const FILE_CAP: u64 = 16 << 20;

/// Single events or records between two looks at the file's size (a batch,
/// one visit of a lane, is followed by a look every time).
const CHECK_EVERY: u32 = 64;

/// A [`FileSink`] that starts its file over (a new, empty trace at the same
/// path) once the file holds [`FILE_CAP`] bytes. What it wrote before is
/// gone: this is for measuring the cost of writing, never for keeping a
/// trace.
pub struct CappedFileSink {
    path: PathBuf,
    sink: FileSink,
    calls: u32,
}

impl CappedFileSink {
    /// Creates the file at `path` (as [`FileSink::create`]).
    pub fn create(path: &Path) -> Result<CappedFileSink, Error> {
        Ok(CappedFileSink {
            path: path.to_path_buf(),
            sink: FileSink::create(path)?,
            calls: 0,
        })
    }

    /// Every [`CHECK_EVERY`] calls (every call with `now`), starts the
    /// file over if it is full.
    fn tick(&mut self, now: bool) -> Result<(), Error> {
        self.calls += 1;
        if self.calls < CHECK_EVERY && !now {
            return Ok(());
        }
        self.calls = 0;
        let len = std::fs::metadata(&self.path).map_or(0, |m| m.len());
        if len >= FILE_CAP {
            // Flushed into the old file first, then truncated by the new
            // sink: the old sink's buffer never lands past the new end.
            self.sink.flush()?;
            self.sink = FileSink::create(&self.path)?;
        }
        Ok(())
    }
}

impl Sink for CappedFileSink {
    fn event(&mut self, lane: LaneId, ts: Nanos, event: &LaneEvent) -> Result<(), Error> {
        self.sink.event(lane, ts, event)?;
        self.tick(false)
    }
    fn record(&mut self, lane: LaneId, ts: Nanos, record: &Record<'_>) -> Result<(), Error> {
        self.sink.record(lane, ts, record)?;
        self.tick(false)
    }
    fn drops(&mut self, lane: LaneId, events: u64, records: u64) -> Result<(), Error> {
        self.sink.drops(lane, events, records)
    }
    fn refused(&mut self, pid: u32, tid: u64, name: &str) -> Result<(), Error> {
        self.sink.refused(pid, tid, name)
    }
    fn timebase(&mut self, timebase: &Timebase) -> Result<(), Error> {
        self.sink.timebase(timebase)
    }
    fn takes_batches(&self) -> bool {
        self.sink.takes_batches()
    }
    fn batch(&mut self, batch: &Batch<'_>) -> Result<(), Error> {
        self.sink.batch(batch)?;
        self.tick(true)
    }
    fn process(&mut self, pid: u32, name: &str) -> Result<(), Error> {
        self.sink.process(pid, name)
    }
    fn flush(&mut self) -> Result<(), Error> {
        self.sink.flush()
    }
}

/// A file writer that goes back to the file's start once it has written
/// [`FILE_CAP`] bytes, overwriting what it wrote (for `tracing-chrome`,
/// whose output is then no valid JSON; it is measured, not read).
pub struct RewindingFile {
    file: File,
    at: u64,
}

impl RewindingFile {
    /// Creates (or truncates) the file at `path`.
    pub fn create(path: &Path) -> io::Result<RewindingFile> {
        Ok(RewindingFile {
            file: File::create(path)?,
            at: 0,
        })
    }
}

impl Write for RewindingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.at >= FILE_CAP {
            self.file.seek(SeekFrom::Start(0))?;
            self.at = 0;
        }
        let n = self.file.write(buf)?;
        self.at += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rewinding_file_stays_under_the_cap() {
        let path = super::super::temp_path("rewind-test");
        let mut f = RewindingFile::create(&path).unwrap();
        let block = vec![7u8; 1 << 20];
        for _ in 0..40 {
            f.write_all(&block).unwrap();
        }
        f.flush().unwrap();
        let len = std::fs::metadata(&path).unwrap().len();
        std::fs::remove_file(&path).unwrap();
        assert!(len <= FILE_CAP + (1 << 20), "{len}");
    }
}
