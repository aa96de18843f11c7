//! Streaming decode: one decoder thread feeding a writer thread through a small ring of large
//! buffers, so decompression and `pwrite` overlap. Handles skippable and concatenated frames
//! (libzstd's streaming decoder moves on to the next frame by itself).

use std::sync::atomic::Ordering;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread;

use zstd_safe::{DCtx, DParameter, InBuffer, OutBuffer};

use crate::direct::AlignedBuffer;
use crate::error::{zstd_error, ErrorCode, ImageError, Result};
use crate::gate::Chunk;
use crate::session::{Limit, Shared};

pub struct DecodeSummary {
    pub uncompressed: u64,
    /// False when the input ended inside a frame (truncated stream).
    pub complete: bool,
    /// Compressed bytes the decoder consumed.
    pub compressed: u64,
    /// Decoded straight into a mapping of the target (`in_place`), not through write buffers.
    pub in_place: bool,
}

pub struct DecodeConfig {
    pub max_window_log: u32,
    pub buffer_size: usize,
    pub buffers: usize,
    pub limit: Limit,
}

struct Filled {
    buf: AlignedBuffer,
    len: usize,
    pos: u64,
}

pub fn run_stream(rx: Receiver<Arc<Chunk>>, shared: Arc<Shared>, cfg: DecodeConfig) -> Result<DecodeSummary> {
    let (full_tx, full_rx) = sync_channel::<Filled>(cfg.buffers);
    let (empty_tx, empty_rx) = sync_channel::<AlignedBuffer>(cfg.buffers + 1);
    // With direct I/O each buffer is seated for the file position it will be written at, so all
    // but an unaligned head and tail of the image can bypass the page cache.
    let align = shared.target.write_alignment();
    for _ in 0..cfg.buffers {
        empty_tx.send(AlignedBuffer::new(cfg.buffer_size, align)).expect("fresh channel");
    }
    let wshared = Arc::clone(&shared);
    let writer = thread::Builder::new()
        .name("zstd-image-write".into())
        .spawn(move || {
            for f in full_rx {
                if wshared.aborted() {
                    return;
                }
                if let Err(e) = wshared.target.write_at(&f.buf.as_slice()[..f.len], f.pos) {
                    wshared.fail(e);
                    return;
                }
                if empty_tx.send(f.buf).is_err() {
                    return;
                }
            }
        })
        .map_err(|e| ImageError::io("spawn", "writer thread", &e, None))?;

    let result = decode_loop(&rx, &shared, &cfg, &full_tx, &empty_rx);
    drop(full_tx);
    let _ = writer.join();
    if let Err(e) = &result {
        shared.fail(e.clone());
    }
    result
}

struct Decoder<'a> {
    dctx: DCtx<'static>,
    shared: &'a Shared,
    cfg: &'a DecodeConfig,
    full_tx: &'a std::sync::mpsc::SyncSender<Filled>,
    empty_rx: &'a Receiver<AlignedBuffer>,
    buf: AlignedBuffer,
    filled: usize,
    /// Bytes already handed to the writer.
    written: u64,
    /// Compressed bytes fed to libzstd.
    consumed: u64,
    /// libzstd's hint: 0 exactly when the last frame is complete and flushed.
    hint: usize,
}

impl Decoder<'_> {
    fn flush(&mut self) -> Result<()> {
        if self.filled == 0 {
            return Ok(());
        }
        let pos = self.shared.offset + self.written;
        let next_pos = pos + self.filled as u64;
        let next = next_buffer(self.shared, self.empty_rx, next_pos)?;
        let full = std::mem::replace(&mut self.buf, next);
        self.full_tx.send(Filled { buf: full, len: self.filled, pos }).map_err(|_| self.shared.failure_or_aborted())?;
        self.written += self.filled as u64;
        self.filled = 0;
        Ok(())
    }

    /// Feeds `src`; an empty `src` drains what libzstd still holds.
    fn step(&mut self, src: &[u8]) -> Result<()> {
        let mut inb = InBuffer::around(src);
        loop {
            let (in_before, out_before) = (inb.pos, self.filled);
            let mut out = OutBuffer::around_pos(self.buf.as_mut_slice(), self.filled);
            let r = self.dctx.decompress_stream(&mut out, &mut inb);
            self.filled = out.pos();
            let at = self.consumed + inb.pos as u64;
            let hint = r.map_err(|c| zstd_error(c, at, self.cfg.max_window_log))?;
            // A call that made no progress (e.g. right after a frame ended exactly at a full
            // buffer) reports "expecting a new frame header", which is not truncation.
            if inb.pos != in_before || self.filled != out_before {
                self.hint = hint;
            }
            // Never hand the writer a byte past the target range or the declared size.
            self.cfg.limit.check(self.written + self.filled as u64)?;
            let out_full = self.filled == self.buf.as_slice().len();
            if out_full {
                self.flush()?;
            }
            if inb.pos == src.len() && !out_full {
                break;
            }
        }
        self.consumed += src.len() as u64;
        Ok(())
    }
}

fn decode_loop(
    rx: &Receiver<Arc<Chunk>>,
    shared: &Shared,
    cfg: &DecodeConfig,
    full_tx: &std::sync::mpsc::SyncSender<Filled>,
    empty_rx: &Receiver<AlignedBuffer>,
) -> Result<DecodeSummary> {
    let mut dctx = DCtx::create();
    dctx.set_parameter(DParameter::WindowLogMax(cfg.max_window_log)).map_err(|c| zstd_error(c, 0, cfg.max_window_log))?;
    let buf = next_buffer(shared, empty_rx, shared.offset)?;
    let mut d = Decoder { dctx, shared, cfg, full_tx, empty_rx, buf, filled: 0, written: 0, consumed: 0, hint: 1 };
    for chunk in rx.iter() {
        if shared.aborted() {
            return Err(shared.failure_or_aborted());
        }
        if !chunk.data.is_empty() {
            d.step(&chunk.data)?;
        }
    }
    if shared.aborted() {
        return Err(shared.failure_or_aborted());
    }
    if d.consumed > 0 && d.hint != 0 {
        d.step(&[])?;
    }
    d.flush()?;
    Ok(DecodeSummary { uncompressed: d.written, complete: d.consumed > 0 && d.hint == 0, compressed: d.consumed, in_place: false })
}

/// The next free buffer, seated for file position `pos` (where its first byte will be written).
fn next_buffer(shared: &Shared, empty_rx: &Receiver<AlignedBuffer>, pos: u64) -> Result<AlignedBuffer> {
    let mut buf = empty_rx.recv().map_err(|_| shared.failure_or_aborted())?;
    buf.seat_for(pos);
    Ok(buf)
}

impl Shared {
    pub fn failure_or_aborted(&self) -> ImageError {
        self.gate.failure().unwrap_or_else(ImageError::aborted)
    }
    pub fn aborted(&self) -> bool {
        self.abort.load(Ordering::Relaxed)
    }
    pub fn fail(&self, e: ImageError) {
        self.abort.store(true, Ordering::Relaxed);
        self.gate.fail(e);
    }
}

pub fn truncated(consumed: u64) -> ImageError {
    ImageError::new(
        ErrorCode::CorruptFrame,
        format!("the zstd stream ends inside a frame after {consumed} compressed bytes (truncated input)"),
    )
    .at(consumed)
}
