//! Optional `O_DIRECT` writes for the buffered decoder (`WriterOptions::direct_io`): the aligned
//! middle of each output buffer bypasses the page cache, so the writer leaves (almost) nothing
//! there for a memory cgroup to charge. The unaligned head and tail of an image still go through
//! the ordinary fd: `O_DIRECT` needs the file position, the length and the memory address all
//! aligned to the device's logical block size.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, FileTypeExt, OpenOptionsExt};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Alignment used when the device does not tell a larger one: the page size, which every Linux
/// file system that supports `O_DIRECT` accepts (a 512-byte logical block size divides it).
pub const DIRECT_ALIGN: usize = 4096;

/// A second descriptor on the target, opened with `O_DIRECT`.
pub struct DirectFd {
    file: File,
    align: usize,
    /// Cleared when a direct write is refused (EINVAL): the rest of the image goes buffered.
    usable: AtomicBool,
    /// Bytes written through this descriptor: what `WriteOutcome::direct_io` reports.
    written: AtomicU64,
}

impl DirectFd {
    /// Reopens `file` (through `/proc/self/fd`, so fd targets work too) with
    /// `O_DIRECT`. A new open file description, not `fcntl(F_SETFL)` on a duplicate: status flags
    /// are shared between duplicates, and the caller's fd must stay buffered. `None` when the file
    /// system refuses `O_DIRECT` (EINVAL, e.g. tmpfs before Linux 6.6 or a character device) or
    /// `/proc` is not mounted: the writer then stays on the ordinary path.
    pub fn reopen(file: &File) -> Option<DirectFd> {
        let is_block = file.metadata().map(|m| m.file_type().is_block_device()).unwrap_or(false);
        let direct = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_DIRECT | libc::O_CLOEXEC)
            .open(format!("/proc/self/fd/{}", file.as_raw_fd()))
            .ok()?;
        let align = if is_block { logical_block_size(&direct).max(DIRECT_ALIGN) } else { DIRECT_ALIGN };
        Some(DirectFd { file: direct, align, usable: AtomicBool::new(true), written: AtomicU64::new(0) })
    }

    pub fn align(&self) -> usize {
        self.align
    }

    pub fn bytes_written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Splits `buf` (to be written at `pos`) into the head and tail that must go buffered and the
    /// aligned middle that may go direct. Everything is head when the memory address and the file
    /// position disagree modulo the alignment (a buffer not seated by `AlignedBuffer`).
    pub fn split<'a>(&self, buf: &'a [u8], pos: u64) -> (&'a [u8], &'a [u8], &'a [u8]) {
        let a = self.align;
        if !self.usable.load(Ordering::Relaxed) || (buf.as_ptr() as usize % a) as u64 != pos % a as u64 {
            return (buf, &[], &[]);
        }
        let head = ((a - (pos % a as u64) as usize) % a).min(buf.len());
        let body = (buf.len() - head) / a * a;
        let (h, rest) = buf.split_at(head);
        let (b, t) = rest.split_at(body);
        (h, b, t)
    }

    /// Writes an aligned range. `Ok(false)`: the file system refused the direct write (EINVAL);
    /// direct writes are off from now on and the caller writes the range buffered instead.
    pub fn write_aligned(&self, buf: &[u8], pos: u64) -> std::io::Result<bool> {
        match self.file.write_all_at(buf, pos) {
            Ok(()) => {
                self.written.fetch_add(buf.len() as u64, Ordering::Relaxed);
                Ok(true)
            }
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                self.usable.store(false, Ordering::Relaxed);
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }
}

/// `BLKSSZGET`: the smallest unit the device accepts for direct I/O. 0 when the ioctl fails.
fn logical_block_size(file: &File) -> usize {
    let mut size: libc::c_int = 0;
    // SAFETY: `file` is an open block device; BLKSSZGET writes one c_int to the pointer, which
    // points at a live local of that type.
    let r = unsafe { libc::ioctl(file.as_raw_fd(), libc::BLKSSZGET, &mut size as *mut libc::c_int) };
    if r == 0 && size > 0 {
        size as usize
    } else {
        0
    }
}

/// An output buffer whose bytes start at a memory address congruent to the file position they
/// are written at (modulo the direct-I/O alignment), so `DirectFd::split` finds an aligned middle
/// whatever the image's offset; and which ends at an aligned file position, so that only the
/// image's first buffer has an unaligned head (not every buffer boundary a split block). Plain
/// safe `Vec`: a few spare bytes let the start move; a `Vec`'s heap block never moves while its
/// length is unchanged.
pub struct AlignedBuffer {
    bytes: Vec<u8>,
    start: usize,
    len: usize,
    capacity: usize,
    align: usize,
}

impl AlignedBuffer {
    /// `align` 1: an ordinary buffer (no direct I/O).
    pub fn new(len: usize, align: usize) -> AlignedBuffer {
        AlignedBuffer { bytes: vec![0u8; len + align - 1], start: 0, len, capacity: len, align }
    }

    /// Moves the start so that it lines up with file position `pos`, and shortens the buffer so
    /// that it ends at an aligned position (the next buffer then starts aligned).
    pub fn seat_for(&mut self, pos: u64) {
        let a = self.align;
        let addr = self.bytes.as_ptr() as usize % a;
        let want = (pos % a as u64) as usize;
        self.start = (want + a - addr) % a;
        let overhang = ((pos + self.capacity as u64) % a as u64) as usize;
        self.len = if overhang < self.capacity { self.capacity - overhang } else { self.capacity };
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[self.start..self.start + self.len]
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.bytes[self.start..self.start + self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seated_buffers_line_up_with_any_position() {
        for pos in [0u64, 1, 511, 4095, 4096, 4097, 1 << 20, (1 << 20) + 123] {
            let mut b = AlignedBuffer::new(3 * DIRECT_ALIGN, DIRECT_ALIGN);
            b.seat_for(pos);
            assert_eq!(b.as_slice().as_ptr() as usize % DIRECT_ALIGN, (pos % DIRECT_ALIGN as u64) as usize);
            let end = pos + b.as_slice().len() as u64;
            assert_eq!(end % DIRECT_ALIGN as u64, 0, "ends aligned");
            assert!(b.as_slice().len() > 2 * DIRECT_ALIGN);
        }
    }

    #[test]
    fn split_keeps_unaligned_head_and_tail_buffered() {
        let dir = tempfile::tempdir_in("/var/tmp").unwrap();
        let file = OpenOptions::new().write(true).create(true).truncate(true).open(dir.path().join("t")).unwrap();
        let Some(d) = DirectFd::reopen(&file) else {
            eprintln!("skipped: /var/tmp does not accept O_DIRECT here");
            return;
        };
        let pos = 1000u64;
        let mut b = AlignedBuffer::new(3 * DIRECT_ALIGN, DIRECT_ALIGN);
        b.seat_for(pos);
        let (h, m, t) = d.split(b.as_slice(), pos);
        assert_eq!((h.len(), m.len(), t.len()), (DIRECT_ALIGN - 1000, 2 * DIRECT_ALIGN, 0));
        let (h, m, t) = d.split(&b.as_slice()[..2 * DIRECT_ALIGN], pos);
        assert_eq!((h.len(), m.len(), t.len()), (DIRECT_ALIGN - 1000, DIRECT_ALIGN, 1000));
        // A buffer not seated for the position: nothing may go direct.
        let (h, m, _) = d.split(&b.as_slice()[1..], pos);
        assert_eq!((h.len(), m.len()), (3 * DIRECT_ALIGN - 1001, 0));
    }
}
