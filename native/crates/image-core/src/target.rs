//! The output side: a file or block device written with positioned writes at absolute offsets.

use std::fs::{File, OpenOptions};
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::os::unix::fs::{FileExt, FileTypeExt, OpenOptionsExt};
use std::path::PathBuf;
use std::sync::Mutex;

use crate::direct::DirectFd;
use crate::error::{ErrorCode, ImageError, Result};

#[derive(Debug, Clone)]
pub enum TargetSpec {
    /// Opened write-only by the session and closed when it ends. `create` allows a new regular
    /// file (never for devices: a mistyped `/dev/sdx` must not become a file).
    Path { path: PathBuf, create: bool },
    /// Owned by the caller, who keeps it open while the session runs: the session writes through
    /// a duplicate (`dup`) and closes only that.
    Fd(RawFd),
}

/// Largest page-cache folio a file system may use (a PMD on x86-64): cache drops reach this far
/// behind a boundary, where a folio straddling it could not be dropped before.
pub const LARGEST_FOLIO: u64 = 2 << 20;

/// Zero-detection granularity for sparse writes: the usual filesystem block size.
pub const SPARSE_BLOCK: usize = 4096;

pub struct Target {
    file: File,
    name: String,
    sparse: bool,
    /// Push each written range to the disk and drop it from the page cache (set when the session
    /// fsyncs at the end): a memory cgroup then never fills with the writer's dirty pages.
    pub writeback: bool,
    pub is_regular: bool,
    /// The range written before the current one, still under writeback: waited for and dropped
    /// after the next write, so one range is always in flight while the decoder works.
    in_flight: Mutex<Option<(u64, u64)>>,
    /// Set by `enable_direct_io`: aligned ranges are written with `O_DIRECT` through it.
    direct: Option<DirectFd>,
}

impl Target {
    pub fn open(spec: &TargetSpec, sparse: bool) -> Result<Target> {
        let (file, name) = match spec {
            TargetSpec::Path { path, create } => {
                let name = path.display().to_string();
                let file = OpenOptions::new()
                    .write(true)
                    .create(*create)
                    .mode(0o644)
                    .custom_flags(libc::O_CLOEXEC)
                    .open(path)
                    .map_err(|e| ImageError::io("open", &name, &e, None))?;
                (file, name)
            }
            TargetSpec::Fd(fd) => {
                if *fd < 0 {
                    return Err(ImageError::new(ErrorCode::InvalidOption, format!("target fd {fd} is not a file descriptor")));
                }
                let name = format!("fd {fd}");
                // SAFETY: the caller promises `fd` is open for the whole call (the JS side holds it
                // until the session ends); it is only borrowed here to duplicate it, and the
                // duplicate is what the session owns and closes.
                let borrowed = unsafe { BorrowedFd::borrow_raw(*fd) };
                let owned = borrowed.try_clone_to_owned().map_err(|e| ImageError::io("dup", &name, &e, None))?;
                (File::from(owned), name)
            }
        };
        let meta = file.metadata().map_err(|e| ImageError::io("fstat", &name, &e, None))?;
        let t = Target {
            file,
            name,
            sparse,
            writeback: false,
            is_regular: meta.file_type().is_file(),
            in_flight: Mutex::new(None),
            direct: None,
        };
        if sparse && !(t.is_regular || meta.file_type().is_block_device()) {
            return Err(ImageError::new(
                ErrorCode::InvalidOption,
                format!("sparse writes need a regular file or block device, {} is neither", t.name),
            ));
        }
        Ok(t)
    }

    /// Opens the `O_DIRECT` descriptor. When the file system refuses it, writes stay on the
    /// ordinary fd and `direct_bytes` stays 0, which is how the outcome reports it.
    pub fn enable_direct_io(&mut self) {
        self.direct = DirectFd::reopen(&self.file);
    }

    /// Alignment output buffers should be seated at (`AlignedBuffer`): the direct-I/O alignment,
    /// or 1 without direct I/O.
    pub fn write_alignment(&self) -> usize {
        self.direct.as_ref().map_or(1, DirectFd::align)
    }

    /// Bytes that went to the target with `O_DIRECT`.
    pub fn direct_bytes(&self) -> u64 {
        self.direct.as_ref().map_or(0, DirectFd::bytes_written)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Writes `buf` at absolute `pos`. With `sparse`, all-zero 4 KiB blocks are skipped, leaving
    /// holes (the caller promised the target already reads as zeros there).
    pub fn write_at(&self, buf: &[u8], pos: u64) -> Result<()> {
        self.write_data(buf, pos)?;
        if self.writeback {
            self.push_out(pos, buf.len() as u64);
        }
        Ok(())
    }

    /// Starts writeback of the range just written, then waits for the previous range and drops
    /// it from the page cache. Advisory: errors surface at the final fsync, where they are
    /// reported; a range that cannot be dropped yet is reclaimable clean cache anyway.
    fn push_out(&self, pos: u64, len: u64) {
        let fd = self.file.as_raw_fd();
        // SAFETY: `fd` is this target's open file for the duration of the call; sync_file_range
        // only reads its arguments.
        unsafe {
            libc::sync_file_range(fd, pos as i64, len as i64, libc::SYNC_FILE_RANGE_WRITE);
        }
        let previous = self.in_flight.lock().map(|mut slot| slot.replace((pos, len))).unwrap_or(None);
        if let Some((p, l)) = previous {
            // SAFETY: as above.
            unsafe {
                libc::sync_file_range(
                    fd,
                    p as i64,
                    l as i64,
                    libc::SYNC_FILE_RANGE_WAIT_BEFORE | libc::SYNC_FILE_RANGE_WRITE | libc::SYNC_FILE_RANGE_WAIT_AFTER,
                );
            }
            // A large folio straddling the range before was skipped then (part of it was still
            // being written); it lies wholly behind now.
            let from = p.saturating_sub(LARGEST_FOLIO);
            self.drop_cache(from, l + (p - from));
        }
    }

    /// Current size of the file or block device (`lseek(SEEK_END)`; writes here are positioned,
    /// so the file offset is free to move).
    pub fn size(&self) -> Option<u64> {
        use std::io::{Seek, SeekFrom};
        (&self.file).seek(SeekFrom::End(0)).ok()
    }

    pub fn raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }

    /// Whether zero blocks may become holes: a sparse write into a regular file.
    pub fn sparse_holes(&self) -> bool {
        self.sparse && self.is_regular
    }

    /// Starts writeback of a range without waiting (advisory; errors surface at fsync).
    pub fn start_writeback(&self, pos: u64, len: u64) {
        if self.writeback {
            // SAFETY: `fd` is this target's open file; sync_file_range only reads its arguments.
            unsafe {
                libc::sync_file_range(self.file.as_raw_fd(), pos as i64, len as i64, libc::SYNC_FILE_RANGE_WRITE);
            }
        }
    }

    /// Waits until a range handed to writeback reached the disk (advisory, as above).
    pub fn wait_writeback(&self, pos: u64, len: u64) {
        if self.writeback {
            // SAFETY: as in `start_writeback`.
            unsafe {
                libc::sync_file_range(
                    self.file.as_raw_fd(),
                    pos as i64,
                    len as i64,
                    libc::SYNC_FILE_RANGE_WAIT_BEFORE | libc::SYNC_FILE_RANGE_WRITE | libc::SYNC_FILE_RANGE_WAIT_AFTER,
                );
            }
        }
    }

    /// Deallocates a range of a regular file (it reads as zeros again), keeping its size.
    pub fn punch_hole(&self, pos: u64, len: u64) -> Result<()> {
        // SAFETY: `fd` is this target's open file; fallocate only reads its arguments.
        let r = unsafe {
            libc::fallocate(self.file.as_raw_fd(), libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE, pos as i64, len as i64)
        };
        if r != 0 {
            return Err(ImageError::io("fallocate", &self.name, &std::io::Error::last_os_error(), Some(pos)));
        }
        Ok(())
    }

    /// Drops clean cached pages of a range (after it reached the disk).
    pub fn drop_cache(&self, pos: u64, len: u64) {
        // SAFETY: `fd` is this target's open file; posix_fadvise only reads its arguments.
        unsafe {
            libc::posix_fadvise(self.file.as_raw_fd(), pos as i64, len as i64, libc::POSIX_FADV_DONTNEED);
        }
    }

    fn write_data(&self, buf: &[u8], pos: u64) -> Result<()> {
        if !self.sparse {
            return self.pwrite(buf, pos);
        }
        // Blocks are aligned to absolute positions so holes line up with filesystem blocks.
        let mut i = 0usize;
        let mut run_start: Option<usize> = None;
        while i < buf.len() {
            let abs = pos + i as u64;
            let to_boundary = SPARSE_BLOCK - (abs % SPARSE_BLOCK as u64) as usize;
            let end = (i + to_boundary).min(buf.len());
            let zero = is_zero(&buf[i..end]);
            match (zero, run_start) {
                (true, Some(s)) => {
                    self.pwrite(&buf[s..i], pos + s as u64)?;
                    run_start = None;
                }
                (false, None) => run_start = Some(i),
                _ => {}
            }
            i = end;
        }
        if let Some(s) = run_start {
            self.pwrite(&buf[s..], pos + s as u64)?;
        }
        Ok(())
    }

    /// With direct I/O, the aligned middle of `buf` bypasses the page cache; the head and tail (and
    /// everything, when the buffer is not seated for `pos`) go through the ordinary fd.
    fn pwrite(&self, buf: &[u8], pos: u64) -> Result<()> {
        let Some(direct) = &self.direct else {
            return self.pwrite_buffered(buf, pos);
        };
        let (head, body, tail) = direct.split(buf, pos);
        self.pwrite_buffered(head, pos)?;
        let body_pos = pos + head.len() as u64;
        if !body.is_empty() {
            let went_direct = direct.write_aligned(body, body_pos).map_err(|e| ImageError::io("pwrite", &self.name, &e, Some(body_pos)))?;
            if !went_direct {
                self.pwrite_buffered(body, body_pos)?;
            }
        }
        self.pwrite_buffered(tail, body_pos + body.len() as u64)
    }

    fn pwrite_buffered(&self, buf: &[u8], pos: u64) -> Result<()> {
        if buf.is_empty() {
            return Ok(());
        }
        self.file.write_all_at(buf, pos).map_err(|e| ImageError::io("pwrite", &self.name, &e, Some(pos)))
    }

    /// After sparse writes a regular file must still reach the end of the image, even when the
    /// image ends in zeros that were never written.
    pub fn extend_to(&self, end: u64) -> Result<()> {
        if !self.is_regular {
            return Ok(());
        }
        let len = self.file.metadata().map_err(|e| ImageError::io("fstat", &self.name, &e, None))?.len();
        if len < end {
            self.file.set_len(end).map_err(|e| ImageError::io("ftruncate", &self.name, &e, Some(end)))?;
        }
        Ok(())
    }

    pub fn sync(&self) -> Result<()> {
        self.file.sync_all().map_err(|e| ImageError::io("fsync", &self.name, &e, None))
    }
}

/// Word-wise OR reduction: the compiler vectorises this, unlike an early-exit byte loop.
pub fn is_zero(buf: &[u8]) -> bool {
    // SAFETY: every bit pattern is a valid u128, and align_to puts unaligned bytes in head/tail.
    let (head, words, tail) = unsafe { buf.align_to::<u128>() };
    head.iter().all(|&b| b == 0) && tail.iter().all(|&b| b == 0) && words.iter().fold(0u128, |a, &w| a | w) == 0
}

impl Target {
    /// Makes a regular file end exactly at `end` (a compressed output replacing an older, longer one).
    pub fn truncate_to(&self, end: u64) -> Result<()> {
        if self.is_regular {
            self.file.set_len(end).map_err(|e| ImageError::io("ftruncate", &self.name, &e, Some(end)))?;
        }
        Ok(())
    }
}
