//! Decoding straight into the target: the target range is mapped (MAP_SHARED) and handed to libzstd
//! as a stable output buffer (`ZSTD_d_stableOutBuffer`), so the decoder keeps its window in the
//! target's page cache instead of allocating it on the heap, and nothing is copied into a ring of
//! write buffers. A 2^27 window then costs no heap at all; what stays resident is page cache the
//! writer pushes out and drops as it goes (only the most recent `KEEP` bytes stay mapped, older
//! history is read back from the target on the rare match that reaches further).
//!
//! Used when the session's target is readable and writable (mmap needs both) and the range has a
//! known size; otherwise the session uses the buffered decoder in `decode.rs`.

use std::ptr::NonNull;
use std::sync::mpsc::Receiver;
use std::sync::Arc;

use zstd_safe::{DCtx, DParameter, InBuffer, OutBuffer};

use crate::decode::{DecodeConfig, DecodeSummary};
use crate::error::{zstd_error, ErrorCode, ImageError, Result};
use crate::gate::Chunk;
use crate::session::Shared;
use crate::target::{is_zero, LARGEST_FOLIO, SPARSE_BLOCK};

/// Decoded bytes handed to writeback at a time. 1 MiB rather than 4: what is decoded but not yet
/// pushed out stays mapped, and the smaller step took 2-3 MiB off the peak RSS of the 1 GiB bench
/// disk at the same wall time (`pnpm bench:memory`).
const FLUSH: u64 = 1 << 20;
/// Compressed bytes fed to libzstd per call. A block decodes to at most 128 KiB and an RLE block
/// takes 4 bytes, so one call yields at most 4 MiB: runs of zeros never have more than that mapped
/// and dirty beyond what is pushed out. 512 bytes (16 MiB per call) cost 12 MiB more peak RSS on
/// the 1 GiB bench disk and no measurable CPU less (`pnpm bench:memory`).
const SLICE: usize = 128;
/// Most recent decoded bytes left mapped and cached for the decoder's matches, at most: a smaller
/// window keeps only itself (`keep_bytes`), since no match reaches further back.
const KEEP: u64 = 16 << 20;

/// What stays mapped behind the decoder: the window, capped at `KEEP`. A 2^23 window keeps 8 MiB
/// (every match served from the mapping, none read back); a 2^27 one keeps 16 MiB and reads the
/// rare longer match back from the target.
fn keep_bytes(window: u64) -> u64 {
    window.min(KEEP)
}

/// A shared mapping of `[offset, offset + len)` of the target.
struct Mapping {
    base: NonNull<libc::c_void>,
    map_len: usize,
    /// Bytes from `base` to the image's first byte (the mapping starts on a page boundary).
    lead: usize,
    len: usize,
}

impl Mapping {
    fn new(fd: i32, offset: u64, len: usize) -> std::io::Result<Mapping> {
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64;
        let start = offset - offset % page;
        let lead = (offset - start) as usize;
        let map_len = lead + len;
        // SAFETY: a fresh mapping chosen by the kernel (null hint) of an fd the target keeps open;
        // the result is checked before use and unmapped exactly once, in Drop.
        let p =
            unsafe { libc::mmap(std::ptr::null_mut(), map_len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, fd, start as i64) };
        if p == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        let base = NonNull::new(p).ok_or_else(|| std::io::Error::from_raw_os_error(libc::EINVAL))?;
        Ok(Mapping { base, map_len, lead, len })
    }

    /// The image's bytes. Writes through it land in the target's page cache.
    fn slice(&mut self) -> &mut [u8] {
        // SAFETY: `base + lead .. base + lead + len` lies inside the live mapping, which this
        // struct owns; `&mut self` makes the slice the only access for its lifetime.
        unsafe { std::slice::from_raw_parts_mut(self.base.as_ptr().cast::<u8>().add(self.lead), self.len) }
    }

    /// Unmaps our view of `[from, to)` (image-relative, page-aligned outward) so the pages can be
    /// dropped from the cache; the mapping stays valid and faults them back in if read.
    fn release(&self, from: u64, to: u64) {
        // SAFETY: as in `new`.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64;
        let a = (self.lead as u64 + from) / page * page;
        let b = (self.lead as u64 + to) / page * page;
        if b > a {
            // SAFETY: `[a, b)` is page-aligned and inside the mapping; MADV_DONTNEED on a shared
            // file mapping only drops our page-table entries (the data is in the file).
            unsafe {
                libc::madvise(self.base.as_ptr().cast::<u8>().add(a as usize).cast(), (b - a) as usize, libc::MADV_DONTNEED);
            }
        }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, unmapped once; no slice of it outlives `self`.
        unsafe {
            libc::munmap(self.base.as_ptr(), self.map_len);
        }
    }
}

// SAFETY: the mapping is plain memory shared with the kernel's page cache; only the decoder thread
// that owns the `Mapping` touches it.
unsafe impl Send for Mapping {}

/// Whether the in-place decoder can run on this target: a known range size and a mapping allowed.
pub fn in_place_length(limit_len: Option<u64>, uncompressed: Option<u64>) -> Option<u64> {
    match (limit_len, uncompressed) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
    .filter(|&n| n > 0 && usize::try_from(n).is_ok())
}

/// Tries to map the target range: `None` when the target does not allow it (write-only fd, a
/// file system without mmap), and the session then decodes through buffers.
pub fn try_map(shared: &Shared, len: u64) -> Option<MappedTarget> {
    // Touching a mapping past the end of the file or device raises SIGBUS: map only what exists.
    if shared.target.size()? < shared.offset.checked_add(len)? {
        return None;
    }
    let mapping = Mapping::new(shared.target.raw_fd(), shared.offset, len as usize).ok()?;
    Some(MappedTarget { mapping })
}

pub struct MappedTarget {
    mapping: Mapping,
}

pub fn run_in_place(rx: Receiver<Arc<Chunk>>, shared: Arc<Shared>, cfg: DecodeConfig, mut mapped: MappedTarget) -> Result<DecodeSummary> {
    let result = decode(&rx, &shared, &cfg, &mut mapped.mapping);
    if let Err(e) = &result {
        shared.fail(e.clone());
    }
    result
}

struct Progress {
    /// Decoded bytes so far (image-relative).
    produced: u64,
    /// Start of the bytes not yet handed to writeback.
    pending: u64,
    /// Start of the bytes handed to writeback but not yet dropped.
    in_flight: u64,
}

struct Decoder<'a> {
    dctx: DCtx<'static>,
    cfg: &'a DecodeConfig,
    capacity: u64,
    /// Compressed bytes fed to libzstd.
    consumed: u64,
    /// libzstd's hint: 0 exactly when the last frame is complete.
    hint: usize,
}

impl Decoder<'_> {
    /// Feeds `src`; an empty `src` drains what libzstd still holds.
    fn step(&mut self, src: &[u8], map: &mut Mapping, p: &mut Progress) -> Result<()> {
        let mut inb = InBuffer::around(src);
        loop {
            let before = (inb.pos, p.produced);
            let mut out = OutBuffer::around_pos(map.slice(), p.produced as usize);
            let r = self.dctx.decompress_stream(&mut out, &mut inb);
            p.produced = out.pos() as u64;
            let at = self.consumed + inb.pos as u64;
            let h = match r {
                Ok(h) => h,
                // With a stable output buffer, "no room" means the image is larger than its range.
                Err(c) if is_dst_too_small(c) => return Err(over(self.cfg, self.capacity)),
                Err(c) => return Err(zstd_error(c, at, self.cfg.max_window_log)),
            };
            let progressed = (inb.pos, p.produced) != before;
            if progressed {
                self.hint = h;
            }
            let full = p.produced == self.capacity;
            if !progressed {
                // Input left (or more output announced) but no room for it.
                if (inb.pos < src.len() || h != 0) && full && !src.is_empty() {
                    return Err(over(self.cfg, self.capacity));
                }
                if src.is_empty() && full && h != 0 {
                    return Err(over(self.cfg, self.capacity));
                }
                break;
            }
            if inb.pos == src.len() && (!src.is_empty() || h == 0) {
                break;
            }
        }
        self.consumed += src.len() as u64;
        Ok(())
    }
}

fn is_dst_too_small(code: usize) -> bool {
    use zstd_safe::zstd_sys::{ZSTD_ErrorCode, ZSTD_getErrorCode};
    // SAFETY: ZSTD_getErrorCode is a pure function of its integer argument.
    unsafe { ZSTD_getErrorCode(code) == ZSTD_ErrorCode::ZSTD_error_dstSize_tooSmall }
}

fn decode(rx: &Receiver<Arc<Chunk>>, shared: &Shared, cfg: &DecodeConfig, map: &mut Mapping) -> Result<DecodeSummary> {
    let mut dctx = DCtx::create();
    dctx.set_parameter(DParameter::WindowLogMax(cfg.max_window_log)).map_err(|c| zstd_error(c, 0, cfg.max_window_log))?;
    dctx.set_parameter(DParameter::StableOutBuffer(true)).map_err(|c| zstd_error(c, 0, cfg.max_window_log))?;
    let mut d = Decoder { dctx, cfg, capacity: map.len as u64, consumed: 0, hint: 1 };
    let mut p = Progress { produced: 0, pending: 0, in_flight: 0 };
    let window = 1u64 << cfg.max_window_log;
    for chunk in rx.iter() {
        if shared.aborted() {
            return Err(shared.failure_or_aborted());
        }
        // Input goes in small slices: a few bytes of zstd (RLE blocks of zeros) can decode to
        // hundreds of MiB, which must not all be dirty at once. libzstd gathers a block's input
        // internally and decodes it once, so small slices cost only the calls.
        for now in chunk.data.chunks(SLICE) {
            d.step(now, map, &mut p)?;
            cfg.limit.check(p.produced)?;
            if p.produced - p.pending >= FLUSH {
                push_out(shared, map, &mut p, window, false)?;
            }
        }
    }
    if shared.aborted() {
        return Err(shared.failure_or_aborted());
    }
    if d.consumed > 0 && d.hint != 0 {
        d.step(&[], map, &mut p)?;
    }
    push_out(shared, map, &mut p, window, true)?;
    Ok(DecodeSummary { uncompressed: p.produced, complete: d.consumed > 0 && d.hint == 0, compressed: d.consumed, in_place: true })
}

fn over(cfg: &DecodeConfig, capacity: u64) -> ImageError {
    cfg.limit
        .check(capacity + 1)
        .err()
        .unwrap_or_else(|| ImageError::new(ErrorCode::SizeMismatch, format!("the image decodes to more than its {capacity}-byte range")))
}

/// Hands `[pending, produced)` (whole sparse blocks, or everything at the end) to writeback,
/// punching holes for zero blocks on a sparse target, and drops what is older than `KEEP`.
fn push_out(shared: &Shared, map: &mut Mapping, p: &mut Progress, window: u64, last: bool) -> Result<()> {
    let block = SPARSE_BLOCK as u64;
    let end = if last { p.produced } else { (shared.offset + p.produced) / block * block - shared.offset };
    if end <= p.pending {
        return Ok(());
    }
    let target = &shared.target;
    if target.sparse_holes() {
        punch_zero_blocks(shared, map, p.pending, end)?;
    }
    target.start_writeback(shared.offset + p.pending, end - p.pending);
    p.pending = end;
    let keep_from = if last { end } else { end.saturating_sub(keep_bytes(window)) };
    if keep_from > p.in_flight {
        target.wait_writeback(shared.offset + p.in_flight, keep_from - p.in_flight);
        // Also released again: large folios (up to 2 MiB) that straddled the previous boundary
        // (still mapped then, they were skipped), and pages a match reaching further than KEEP
        // read back since (never further back than the window).
        let from = keep_from.saturating_sub(window + FLUSH).min(p.in_flight.saturating_sub(LARGEST_FOLIO));
        map.release(from, keep_from);
        target.drop_cache(shared.offset + from, keep_from - from);
        p.in_flight = keep_from;
    }
    Ok(())
}

/// On a target that reads as zeros, all-zero blocks become holes again (decoding into the mapping
/// dirtied them), as the buffered writer's skipped writes would have left them.
fn punch_zero_blocks(shared: &Shared, map: &mut Mapping, from: u64, to: u64) -> Result<()> {
    let block = SPARSE_BLOCK as u64;
    let abs = |i: u64| shared.offset + i;
    let data = map.slice();
    let mut i = from;
    let mut run: Option<u64> = None;
    while i < to {
        let next = ((abs(i) / block + 1) * block - shared.offset).min(to);
        let whole = abs(i) % block == 0 && next - i == block;
        let zero = whole && is_zero(&data[i as usize..next as usize]);
        match (zero, run) {
            (true, None) => run = Some(i),
            (false, Some(s)) => {
                shared.target.punch_hole(abs(s), i - s)?;
                run = None;
            }
            _ => {}
        }
        i = next;
    }
    if let Some(s) = run {
        shared.target.punch_hole(abs(s), to - s)?;
    }
    Ok(())
}
