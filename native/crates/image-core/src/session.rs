//! The image writer session: the one primitive the engine needs. Compressed chunks go in; a
//! hasher thread computes SHA-384 over them while a decoder thread (or a pool of them, for
//! seekable streams) decompresses and a writer thread writes at `offset + n`.

use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha384};

use crate::decode::{run_stream, truncated, DecodeConfig, DecodeSummary};
use crate::error::{ErrorCode, ImageError, Result};
use crate::frame::SeekFrame;
use crate::gate::{Chunk, DrainCallback, Gate};
use crate::in_place::{in_place_length, run_in_place, try_map};
use crate::seekable::run_seekable;
use crate::target::{Target, TargetSpec};

/// libzstd's default decode limit (ZSTD_WINDOWLOG_LIMIT_DEFAULT), also Trident's when a COSI
/// has no `compression.maxWindowLog` (COSI §4).
pub const DEFAULT_MAX_WINDOW_LOG: u32 = 27;

#[derive(Debug, Clone)]
pub struct WriterOptions {
    pub target: TargetSpec,
    /// Absolute byte offset of the image in the target.
    pub offset: u64,
    /// Size of the target range; nothing is ever written past `offset + length`.
    pub length: Option<u64>,
    /// Lowercase or uppercase hex SHA-384 of the compressed bytes.
    pub expected_sha384: Option<String>,
    pub expected_compressed_size: Option<u64>,
    pub expected_uncompressed_size: Option<u64>,
    /// 0 means libzstd's default (27); otherwise 10..=31.
    pub max_window_log: u32,
    pub sync: bool,
    pub sparse: bool,
    /// Seekable-format frames, in order: enables the parallel decoder.
    pub seek_table: Option<Vec<SeekFrame>>,
    /// Decoder threads for seekable streams.
    pub threads: usize,
    /// Compressed bytes queued before `write` asks the caller to wait.
    pub high_water: usize,
    /// Size of each output buffer handed to `pwrite`.
    pub buffer_size: usize,
    /// Decode straight into a mapping of the target (see `in_place`): the zstd window then lives
    /// in the target's page cache, not on the heap. Falls back to buffers when the target cannot
    /// be mapped or the range has no known size; ignored for seekable streams.
    pub in_place: bool,
    /// Write the buffered decoder's output with `O_DIRECT` (see `direct`): aligned buffers, the
    /// aligned middle of the image bypasses the page cache, an unaligned head or tail goes
    /// through the ordinary fd. Only the buffered decoder uses it: when `in_place` maps the target
    /// it is ignored (the mapping is page cache by definition); when the file system refuses
    /// `O_DIRECT` the writer stays buffered. `WriteOutcome::direct_io` tells what happened.
    pub direct_io: bool,
}

impl WriterOptions {
    pub fn new(target: TargetSpec) -> Self {
        WriterOptions {
            target,
            offset: 0,
            length: None,
            expected_sha384: None,
            expected_compressed_size: None,
            expected_uncompressed_size: None,
            max_window_log: 0,
            sync: true,
            sparse: false,
            seek_table: None,
            threads: default_threads(),
            high_water: 8 << 20,
            buffer_size: 8 << 20,
            in_place: false,
            direct_io: false,
        }
    }
}

pub fn default_threads() -> usize {
    thread::available_parallelism().map(|n| n.get()).unwrap_or(2).min(8)
}

#[derive(Debug, Clone)]
pub struct WriteOutcome {
    /// Lowercase hex SHA-384 of the compressed bytes.
    pub sha384: String,
    pub compressed_bytes: u64,
    pub uncompressed_bytes: u64,
    pub elapsed: Duration,
    /// The decoder wrote straight into a mapping of the target (`WriterOptions::in_place`).
    pub in_place: bool,
    /// Some of the image was written with `O_DIRECT` (`WriterOptions::direct_io`): false when it
    /// was not asked for, the file system refused it, or the in-place decoder ran.
    pub direct_io: bool,
    /// Bytes written with `O_DIRECT`; the rest went through the page cache.
    pub direct_bytes: u64,
}

/// Upper bound on decoded bytes: the smaller of the declared size and the target range.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub uncompressed: Option<u64>,
    pub length: Option<u64>,
}

impl Limit {
    pub fn check(&self, total: u64) -> Result<()> {
        if let Some(n) = self.uncompressed {
            if total > n {
                return Err(ImageError::mismatch(
                    ErrorCode::SizeMismatch,
                    format!("the image decodes to more than its declared uncompressedSize of {n} bytes"),
                    n,
                    format!(">{n}"),
                ));
            }
        }
        if let Some(n) = self.length {
            if total > n {
                return Err(ImageError::mismatch(
                    ErrorCode::SizeMismatch,
                    format!("the image decodes to more than the {n}-byte target range; nothing was written past it"),
                    n,
                    format!(">{n}"),
                ));
            }
        }
        Ok(())
    }
}

/// State shared by the session and its threads.
pub struct Shared {
    pub gate: Arc<Gate>,
    pub abort: AtomicBool,
    pub target: Target,
    pub offset: u64,
}

pub struct ImageWriter {
    shared: Arc<Shared>,
    hash_tx: Option<Sender<Arc<Chunk>>>,
    decode_tx: Option<Sender<Arc<Chunk>>>,
    hasher: Option<JoinHandle<[u8; 48]>>,
    decoder: Option<JoinHandle<Result<DecodeSummary>>>,
    written: u64,
    opts: WriterOptions,
    started: Instant,
}

pub fn validate_window_log(n: u32) -> Result<u32> {
    match n {
        0 => Ok(DEFAULT_MAX_WINDOW_LOG),
        10..=31 => Ok(n),
        _ => Err(ImageError::new(
            ErrorCode::InvalidOption,
            format!("maxWindowLog {n} is out of range: use 0 (libzstd default, 27) or 10..=31"),
        )),
    }
}

fn normalize_sha(s: &str) -> Result<String> {
    let s = s.strip_prefix("sha384:").unwrap_or(s);
    if s.len() != 96 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ImageError::new(ErrorCode::InvalidOption, format!("expected sha384 must be 96 hex digits, got {s:?}")));
    }
    Ok(s.to_ascii_lowercase())
}

pub fn hex(bytes: &[u8]) -> String {
    const H: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(H[usize::from(b >> 4)] as char);
        s.push(H[usize::from(b & 15)] as char);
    }
    s
}

impl ImageWriter {
    pub fn start(mut opts: WriterOptions) -> Result<ImageWriter> {
        let max_window_log = validate_window_log(opts.max_window_log)?;
        opts.max_window_log = max_window_log;
        if let Some(s) = &opts.expected_sha384 {
            opts.expected_sha384 = Some(normalize_sha(s)?);
        }
        if opts.threads == 0 || opts.buffer_size < 4096 || opts.high_water == 0 {
            return Err(ImageError::new(ErrorCode::InvalidOption, "threads, bufferSize (>= 4096) and highWaterMark must be positive"));
        }
        let limit = Limit { uncompressed: opts.expected_uncompressed_size, length: opts.length };
        if let Some(frames) = &opts.seek_table {
            let total: u64 = frames.iter().map(|f| u64::from(f.decompressed_size)).sum();
            limit.check(total).map_err(|mut e| {
                e.message = format!("the seek table describes {total} bytes: {}", e.message);
                e.actual = Some(total.to_string());
                e
            })?;
            if let Some(n) = opts.expected_uncompressed_size {
                if total != n {
                    return Err(ImageError::mismatch(
                        ErrorCode::SizeMismatch,
                        format!("the seek table describes {total} uncompressed bytes, uncompressedSize is {n}"),
                        n,
                        total,
                    ));
                }
            }
            // Each worker holds a whole frame: the window limit bounds that memory too.
            if let Some((i, f)) = frames.iter().enumerate().find(|(_, f)| u64::from(f.decompressed_size) > 1u64 << max_window_log) {
                return Err(ImageError::new(
                    ErrorCode::WindowTooLarge,
                    format!("seek table frame {i} decodes to {} bytes, more than 2^{max_window_log}", f.decompressed_size),
                ));
            }
        }
        let mut target = Target::open(&opts.target, opts.sparse)?;
        target.writeback = opts.sync;
        if opts.direct_io {
            // A refusal is not an error: the outcome's `direct_io` says the writer stayed buffered.
            target.enable_direct_io();
        }
        let shared = Arc::new(Shared { gate: Gate::new(opts.high_water), abort: AtomicBool::new(false), target, offset: opts.offset });

        let (hash_tx, hash_rx) = channel::<Arc<Chunk>>();
        let hshared = Arc::clone(&shared);
        let hasher = thread::Builder::new()
            .name("zstd-image-sha384".into())
            .spawn(move || {
                let mut h = Sha384::new();
                for c in hash_rx {
                    if hshared.aborted() {
                        break;
                    }
                    h.update(&c.data);
                }
                h.finalize().into()
            })
            .map_err(|e| ImageError::io("spawn", "hasher thread", &e, None))?;

        let (decode_tx, decode_rx) = channel::<Arc<Chunk>>();
        let dshared = Arc::clone(&shared);
        let seek = opts.seek_table.clone();
        let threads = opts.threads;
        let cfg = DecodeConfig { max_window_log, buffer_size: opts.buffer_size, buffers: 3, limit };
        let mapped = match (&seek, opts.in_place) {
            (None, true) => in_place_length(opts.length, opts.expected_uncompressed_size).and_then(|n| try_map(&shared, n)),
            _ => None,
        };
        let decoder = thread::Builder::new().name("zstd-image-decode".into()).spawn(move || match (seek, mapped) {
            (Some(frames), _) => run_seekable(decode_rx, dshared, frames, threads, max_window_log),
            (None, Some(mapped)) => run_in_place(decode_rx, dshared, cfg, mapped),
            (None, None) => run_stream(decode_rx, dshared, cfg),
        });
        let decoder = match decoder {
            Ok(d) => d,
            Err(e) => {
                drop(hash_tx);
                let _ = hasher.join();
                return Err(ImageError::io("spawn", "decoder thread", &e, None));
            }
        };
        Ok(ImageWriter {
            shared,
            hash_tx: Some(hash_tx),
            decode_tx: Some(decode_tx),
            hasher: Some(hasher),
            decoder: Some(decoder),
            written: 0,
            opts,
            started: Instant::now(),
        })
    }

    /// Queues a chunk. Never blocks. `Ok(true)`: write more at once; `Ok(false)`: wait for
    /// `on_drain`/`wait_drain` first.
    pub fn write(&mut self, data: Vec<u8>) -> Result<bool> {
        if let Some(n) = self.opts.expected_compressed_size {
            let total = self.written + data.len() as u64;
            if total > n {
                let e = ImageError::mismatch(
                    ErrorCode::SizeMismatch,
                    format!("received more than the declared compressedSize of {n} bytes"),
                    n,
                    format!(">={total}"),
                )
                .at(n);
                self.shared.fail(e.clone());
                return Err(e);
            }
        }
        let (Some(htx), Some(dtx)) = (&self.hash_tx, &self.decode_tx) else {
            return Err(self.shared.failure_or_aborted());
        };
        let len = data.len() as u64;
        let (chunk, ready) = self.shared.gate.admit(data)?;
        // A closed channel means the thread stopped on an error recorded in the gate.
        if htx.send(Arc::clone(&chunk)).is_err() || dtx.send(chunk).is_err() {
            return Err(self.shared.failure_or_aborted());
        }
        self.written += len;
        Ok(ready)
    }

    pub fn on_drain(&self, cb: DrainCallback) {
        self.shared.gate.on_drain(cb);
    }

    pub fn wait_drain(&self) -> Result<()> {
        self.shared.gate.wait_drain()
    }

    /// Writes and waits as needed: the blocking convenience for Rust callers.
    pub fn write_all_blocking(&mut self, data: Vec<u8>) -> Result<()> {
        if !self.write(data)? {
            self.wait_drain()?;
        }
        Ok(())
    }

    pub fn failure(&self) -> Option<ImageError> {
        self.shared.gate.failure()
    }

    fn join(&mut self) -> (Option<[u8; 48]>, Option<Result<DecodeSummary>>) {
        self.hash_tx.take();
        self.decode_tx.take();
        let d =
            self.decoder.take().map(|h| h.join().unwrap_or_else(|_| Err(ImageError::new(ErrorCode::Io, "the decoder thread panicked"))));
        let h = self.hasher.take().and_then(|h| h.join().ok());
        (h, d)
    }

    /// Ends the input, waits for every byte to be written, then checks sizes, fsyncs and checks
    /// the hash (like Trident, after the data is written: COSI §4 / streaming §4.1 step 8).
    pub fn finish(mut self) -> Result<WriteOutcome> {
        let (digest, decoded) = self.join();
        if let Some(f) = self.shared.gate.failure() {
            return Err(f);
        }
        let summary = decoded.unwrap_or_else(|| Err(ImageError::aborted()))?;
        let digest = digest.ok_or_else(|| ImageError::new(ErrorCode::Io, "the hasher thread panicked"))?;
        if let Some(n) = self.opts.expected_compressed_size {
            if self.written != n {
                return Err(ImageError::mismatch(
                    ErrorCode::SizeMismatch,
                    format!("received {} compressed bytes, the declared compressedSize is {n} (truncated download?)", self.written),
                    n,
                    self.written,
                ));
            }
        }
        if !summary.complete {
            return Err(truncated(summary.compressed));
        }
        if let Some(n) = self.opts.expected_uncompressed_size {
            if summary.uncompressed != n {
                return Err(ImageError::mismatch(
                    ErrorCode::SizeMismatch,
                    format!("the image decodes to {} bytes, the declared uncompressedSize is {n}", summary.uncompressed),
                    n,
                    summary.uncompressed,
                ));
            }
        }
        if self.opts.sparse {
            self.shared.target.extend_to(self.opts.offset + summary.uncompressed)?;
        }
        if self.opts.sync {
            self.shared.target.sync()?;
            // Everything is on the disk now: what is still cached of the image is dead weight.
            self.shared.target.drop_cache(self.opts.offset, summary.uncompressed);
        }
        let sha384 = hex(&digest);
        if let Some(expected) = &self.opts.expected_sha384 {
            if *expected != sha384 {
                return Err(ImageError::mismatch(
                    ErrorCode::HashMismatch,
                    format!(
                        "SHA-384 of the compressed image is {sha384}, expected {expected}; the data written to {} is not the image",
                        self.shared.target.name()
                    ),
                    expected,
                    &sha384,
                ));
            }
        }
        Ok(WriteOutcome {
            sha384,
            compressed_bytes: self.written,
            uncompressed_bytes: summary.uncompressed,
            elapsed: self.started.elapsed(),
            in_place: summary.in_place,
            direct_io: self.shared.target.direct_bytes() > 0,
            direct_bytes: self.shared.target.direct_bytes(),
        })
    }

    /// Stops every thread and releases the target; pending drain waiters get `ZSTD_ABORTED`.
    pub fn abort(mut self) {
        self.abort_in_place();
    }

    fn abort_in_place(&mut self) {
        if self.decoder.is_none() {
            return;
        }
        self.shared.fail(ImageError::aborted());
        let _ = self.join();
    }
}

impl Drop for ImageWriter {
    fn drop(&mut self) {
        self.abort_in_place();
    }
}
