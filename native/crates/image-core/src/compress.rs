//! Compression for the COSI writer: libzstd's multi-threaded streaming compressor (one frame,
//! optional long-distance matching), or the seekable format (independent frames compressed in
//! parallel, then a seek table in a trailing skippable frame that every decoder skips).
//! The SHA-384 and size of the compressed output are computed on the way out, which is exactly
//! what COSI metadata records for each image (COSI §5.3).

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha384};
use zstd_safe::zstd_sys::ZSTD_EndDirective as EndDirective;
use zstd_safe::{CCtx, CParameter, InBuffer, OutBuffer};

use crate::error::{ErrorCode, ImageError, Result};
use crate::frame::build_seek_table;
use crate::gate::{Chunk, DrainCallback, Gate};
use crate::session::{default_threads, hex, Shared};
use crate::target::{Target, TargetSpec};

#[derive(Debug, Clone)]
pub struct CompressOptions {
    /// 1..=22; COSI writers default to 9 (mkcosi and Image Customizer, COSI §5.3).
    pub level: i32,
    /// 0 lets libzstd pick from the level; COSI's `maxWindowLog` must be at least this.
    pub window_log: u32,
    /// Long-distance matching (`zstd --long`).
    pub long: bool,
    /// Worker threads; 1 compresses on the calling thread.
    pub threads: usize,
    /// `Some(n)`: seekable format with frames of `n` uncompressed bytes.
    pub seekable_frame_size: Option<usize>,
    /// XXH64 content checksum in each frame, as the zstd CLI writes by default.
    pub checksum: bool,
    /// Set from another thread to stop `compress_file` (it fails with `ZSTD_ABORTED`).
    pub abort: Option<Arc<AtomicBool>>,
}

impl Default for CompressOptions {
    fn default() -> Self {
        CompressOptions {
            level: 9,
            window_log: 27,
            long: true,
            threads: default_threads(),
            seekable_frame_size: None,
            checksum: true,
            abort: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct CompressOutcome {
    pub sha384: String,
    pub compressed_bytes: u64,
    pub uncompressed_bytes: u64,
    /// Frames in the seek table (seekable format only).
    pub frames: Option<u64>,
    pub elapsed: Duration,
}

pub fn validate(opts: &CompressOptions) -> Result<()> {
    let bad = |m: String| Err(ImageError::new(ErrorCode::InvalidOption, m));
    if !(1..=22).contains(&opts.level) {
        return bad(format!("compression level {} is out of range 1..=22", opts.level));
    }
    if opts.window_log != 0 && !(10..=31).contains(&opts.window_log) {
        return bad(format!("windowLog {} is out of range: 0 (automatic) or 10..=31", opts.window_log));
    }
    if opts.threads == 0 || opts.threads > 256 {
        return bad(format!("threads {} is out of range 1..=256", opts.threads));
    }
    if let Some(f) = opts.seekable_frame_size {
        if !(4096..=(512 << 20)).contains(&f) {
            return bad(format!("seekable frame size {f} is out of range 4 KiB..=512 MiB"));
        }
    }
    Ok(())
}

/// Positioned, hashed output.
struct Sink<'a> {
    target: &'a Target,
    pos: u64,
    buf: Vec<u8>,
    hash: Sha384,
    total: u64,
}

const SINK_BUFFER: usize = 4 << 20;

impl Sink<'_> {
    fn push(&mut self, data: &[u8]) -> Result<()> {
        self.hash.update(data);
        self.total += data.len() as u64;
        if self.buf.len() + data.len() > SINK_BUFFER {
            self.flush()?;
        }
        if data.len() >= SINK_BUFFER {
            self.target.write_at(data, self.pos)?;
            self.pos += data.len() as u64;
        } else {
            self.buf.extend_from_slice(data);
        }
        Ok(())
    }
    fn flush(&mut self) -> Result<()> {
        if !self.buf.is_empty() {
            self.target.write_at(&self.buf, self.pos)?;
            self.pos += self.buf.len() as u64;
            self.buf.clear();
        }
        Ok(())
    }
}

fn zstd_fail(what: &str, code: usize) -> ImageError {
    ImageError::new(ErrorCode::InvalidOption, format!("{what}: {}", zstd_safe::get_error_name(code)))
}

fn read_full(input: &mut dyn Read, buf: &mut [u8], what: &str) -> Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match input.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ImageError::io("read", what, &e, None)),
        }
    }
    Ok(n)
}

fn make_cctx(opts: &CompressOptions, threads: usize) -> Result<CCtx<'static>> {
    let mut c = CCtx::create();
    let set = |c: &mut CCtx<'static>, p: CParameter, what: &str| c.set_parameter(p).map(|_| ()).map_err(|e| zstd_fail(what, e));
    set(&mut c, CParameter::CompressionLevel(opts.level), "level")?;
    if opts.window_log != 0 {
        set(&mut c, CParameter::WindowLog(opts.window_log), "windowLog")?;
    }
    set(&mut c, CParameter::EnableLongDistanceMatching(opts.long), "long")?;
    set(&mut c, CParameter::ChecksumFlag(opts.checksum), "checksum")?;
    if threads > 1 {
        set(&mut c, CParameter::NbWorkers(threads as u32), "threads")?;
    }
    Ok(c)
}

/// Compresses everything `input` yields into `target` at `offset`.
pub fn compress_to(
    input: &mut dyn Read,
    size_hint: Option<u64>,
    target: &Target,
    offset: u64,
    opts: &CompressOptions,
    abort: &AtomicBool,
) -> Result<CompressOutcome> {
    validate(opts)?;
    let started = Instant::now();
    let mut sink = Sink { target, pos: offset, buf: Vec::with_capacity(SINK_BUFFER), hash: Sha384::new(), total: 0 };
    let (uncompressed, frames) = match opts.seekable_frame_size {
        None => (one_frame(input, size_hint, &mut sink, opts, abort)?, None),
        Some(f) => {
            let (u, n) = seekable(input, f, &mut sink, opts, abort)?;
            (u, Some(n))
        }
    };
    sink.flush()?;
    Ok(CompressOutcome {
        sha384: hex(&sink.hash.finalize()),
        compressed_bytes: sink.total,
        uncompressed_bytes: uncompressed,
        frames,
        elapsed: started.elapsed(),
    })
}

fn aborted(abort: &AtomicBool) -> Result<()> {
    if abort.load(std::sync::atomic::Ordering::Relaxed) {
        Err(ImageError::aborted())
    } else {
        Ok(())
    }
}

fn one_frame(input: &mut dyn Read, size_hint: Option<u64>, sink: &mut Sink<'_>, opts: &CompressOptions, abort: &AtomicBool) -> Result<u64> {
    let mut cctx = make_cctx(opts, opts.threads)?;
    if let Some(n) = size_hint {
        cctx.set_pledged_src_size(Some(n)).map_err(|e| zstd_fail("pledged size", e))?;
    }
    let mut inbuf = vec![0u8; 4 << 20];
    let mut outbuf = vec![0u8; CCtx::out_size().max(1 << 20)];
    let mut total = 0u64;
    loop {
        aborted(abort)?;
        let n = read_full(input, &mut inbuf, "compression input")?;
        total += n as u64;
        let last = n < inbuf.len();
        let mut inb = InBuffer::around(&inbuf[..n]);
        loop {
            let directive = if last { EndDirective::ZSTD_e_end } else { EndDirective::ZSTD_e_continue };
            let mut ob = OutBuffer::around(&mut outbuf[..]);
            let r = cctx
                .compress_stream2(&mut ob, &mut inb, directive)
                .map_err(|e| ImageError::new(ErrorCode::Io, format!("zstd compression failed: {}", zstd_safe::get_error_name(e))))?;
            let p = ob.pos();
            sink.push(&outbuf[..p])?;
            let done = if last { r == 0 } else { inb.pos == n };
            if done {
                break;
            }
        }
        if last {
            return Ok(total);
        }
    }
}

fn seekable(
    input: &mut dyn Read,
    frame_size: usize,
    sink: &mut Sink<'_>,
    opts: &CompressOptions,
    abort: &AtomicBool,
) -> Result<(u64, u64)> {
    // Frames are independent, so parallelism comes from compressing several at once, each on
    // its own single-threaded context.
    let mut ctxs = (0..opts.threads).map(|_| make_cctx(opts, 1)).collect::<Result<Vec<_>>>()?;
    let mut inputs: Vec<Vec<u8>> = (0..opts.threads).map(|_| vec![0u8; frame_size]).collect();
    let mut outputs: Vec<Vec<u8>> = (0..opts.threads).map(|_| Vec::with_capacity(zstd_safe::compress_bound(frame_size))).collect();
    let mut entries: Vec<(u32, u32)> = Vec::new();
    let mut total = 0u64;
    loop {
        aborted(abort)?;
        let mut lens = Vec::with_capacity(opts.threads);
        for buf in inputs.iter_mut() {
            let n = read_full(input, buf, "compression input")?;
            if n == 0 {
                break;
            }
            lens.push(n);
            if n < frame_size {
                break;
            }
        }
        if lens.is_empty() {
            break;
        }
        let results: Vec<std::result::Result<usize, usize>> = thread::scope(|s| {
            let handles: Vec<_> = ctxs
                .iter_mut()
                .zip(inputs.iter())
                .zip(outputs.iter_mut())
                .zip(lens.iter())
                .map(|(((c, i), o), &n)| {
                    s.spawn(move || {
                        o.clear();
                        c.compress2(o, &i[..n])
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or(Err(usize::MAX))).collect()
        });
        for ((r, out), &n) in results.into_iter().zip(outputs.iter()).zip(lens.iter()) {
            let c = r.map_err(|e| ImageError::new(ErrorCode::Io, format!("zstd compression failed: {}", zstd_safe::get_error_name(e))))?;
            sink.push(&out[..c])?;
            entries.push((c as u32, n as u32));
            total += n as u64;
        }
        if *lens.last().unwrap_or(&0) < frame_size {
            break;
        }
    }
    sink.push(&build_seek_table(&entries))?;
    Ok((total, entries.len() as u64))
}

/// Compresses `length` bytes (default: to the end) of a file from `input_offset` into a target
/// (a partition inside a disk image is such a range); a path target ends right after the output.
pub fn compress_file(
    input: &Path,
    input_offset: u64,
    input_length: Option<u64>,
    target: &TargetSpec,
    offset: u64,
    opts: &CompressOptions,
    sync: bool,
) -> Result<CompressOutcome> {
    use std::io::{Seek, SeekFrom};
    let name = input.display().to_string();
    let mut f = File::open(input).map_err(|e| ImageError::io("open", &name, &e, None))?;
    let size = f.metadata().map_err(|e| ImageError::io("fstat", &name, &e, None))?.len();
    let available = size.saturating_sub(input_offset);
    let length = input_length.unwrap_or(available);
    if length > available {
        return Err(ImageError::mismatch(
            ErrorCode::SizeMismatch,
            format!("{name} has {available} bytes after offset {input_offset}, {length} were asked for"),
            length,
            available,
        ));
    }
    f.seek(SeekFrom::Start(input_offset)).map_err(|e| ImageError::io("lseek", &name, &e, Some(input_offset)))?;
    let mut reader = f.take(length);
    let t = Target::open(target, false)?;
    let never = AtomicBool::new(false);
    let out = compress_to(&mut reader, Some(length), &t, offset, opts, opts.abort.as_deref().unwrap_or(&never))?;
    if let TargetSpec::Path { .. } = target {
        t.truncate_to(offset + out.compressed_bytes)?;
    }
    if sync {
        t.sync()?;
    }
    Ok(out)
}

/// Reads queued chunks as a byte stream: the compressor's input in a streaming session.
struct ChannelReader {
    rx: Receiver<Arc<Chunk>>,
    cur: Option<Arc<Chunk>>,
    at: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some(c) = &self.cur {
                if self.at < c.data.len() {
                    let n = (c.data.len() - self.at).min(buf.len());
                    buf[..n].copy_from_slice(&c.data[self.at..self.at + n]);
                    self.at += n;
                    return Ok(n);
                }
            }
            match self.rx.recv() {
                Ok(c) => {
                    self.cur = Some(c);
                    self.at = 0;
                }
                Err(_) => {
                    self.cur = None;
                    return Ok(0);
                }
            }
        }
    }
}

/// Streaming compressor: chunks in (with the same drain-based backpressure as the image writer),
/// compressed bytes written at `offset + n` of the target.
pub struct CompressSession {
    shared: Arc<Shared>,
    tx: Option<Sender<Arc<Chunk>>>,
    worker: Option<JoinHandle<Result<CompressOutcome>>>,
    sync: bool,
    truncate: bool,
}

impl CompressSession {
    pub fn start(target: TargetSpec, offset: u64, opts: CompressOptions, sync: bool) -> Result<CompressSession> {
        validate(&opts)?;
        let truncate = matches!(target, TargetSpec::Path { .. });
        let t = Target::open(&target, false)?;
        let shared = Arc::new(Shared { gate: Gate::new(8 << 20), abort: AtomicBool::new(false), target: t, offset });
        let (tx, rx) = channel::<Arc<Chunk>>();
        let wshared = Arc::clone(&shared);
        let worker = thread::Builder::new()
            .name("zstd-compress".into())
            .spawn(move || {
                let mut reader = ChannelReader { rx, cur: None, at: 0 };
                let r = compress_to(&mut reader, None, &wshared.target, wshared.offset, &opts, &wshared.abort);
                if let Err(e) = &r {
                    wshared.fail(e.clone());
                }
                r
            })
            .map_err(|e| ImageError::io("spawn", "compressor thread", &e, None))?;
        Ok(CompressSession { shared, tx: Some(tx), worker: Some(worker), sync, truncate })
    }

    pub fn write(&mut self, data: Vec<u8>) -> Result<bool> {
        let Some(tx) = &self.tx else { return Err(self.shared.failure_or_aborted()) };
        let (chunk, ready) = self.shared.gate.admit(data)?;
        tx.send(chunk).map_err(|_| self.shared.failure_or_aborted())?;
        Ok(ready)
    }

    pub fn on_drain(&self, cb: DrainCallback) {
        self.shared.gate.on_drain(cb);
    }

    pub fn wait_drain(&self) -> Result<()> {
        self.shared.gate.wait_drain()
    }

    pub fn finish(mut self) -> Result<CompressOutcome> {
        self.tx.take();
        let r = self
            .worker
            .take()
            .map(|w| w.join().unwrap_or_else(|_| Err(ImageError::new(ErrorCode::Io, "the compressor thread panicked"))))
            .unwrap_or_else(|| Err(ImageError::aborted()))?;
        if self.truncate {
            self.shared.target.truncate_to(self.shared.offset + r.compressed_bytes)?;
        }
        if self.sync {
            self.shared.target.sync()?;
        }
        Ok(r)
    }

    pub fn abort(mut self) {
        self.abort_in_place();
    }

    fn abort_in_place(&mut self) {
        if let Some(w) = self.worker.take() {
            self.shared.fail(ImageError::aborted());
            self.tx.take();
            let _ = w.join();
        }
    }
}

impl Drop for CompressSession {
    fn drop(&mut self) {
        self.abort_in_place();
    }
}
