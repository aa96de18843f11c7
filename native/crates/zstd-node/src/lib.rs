//! Thin napi-rs layer over `image-core`: converts JS values to Rust and back, nothing else.
//! Domain errors cross the boundary as plain `NativeError` objects (code, errno, expected,
//! actual...) and the TS wrapper turns them into `ZstdError`s; napi exceptions are reserved for
//! type errors in the arguments.

#![deny(clippy::all)]
#![warn(clippy::undocumented_unsafe_blocks)]

use image_core::compress::{compress_file, CompressOptions, CompressOutcome, CompressSession};
use image_core::session::{default_threads, WriteOutcome, WriterOptions};
use image_core::{ImageError, ImageWriter, SeekFrame, TargetSpec};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi::{Env, Task};
use napi_derive::napi;

#[napi(object)]
pub struct NativeError {
    pub code: String,
    pub message: String,
    pub errno: Option<i32>,
    pub syscall: Option<String>,
    pub expected: Option<String>,
    pub actual: Option<String>,
    pub position: Option<f64>,
}

impl From<ImageError> for NativeError {
    fn from(e: ImageError) -> Self {
        NativeError {
            code: e.code.as_str().to_string(),
            message: e.message,
            errno: e.errno,
            syscall: e.syscall.map(str::to_string),
            expected: e.expected,
            actual: e.actual,
            position: e.position.map(|p| p as f64),
        }
    }
}

#[napi(object)]
pub struct NativeTarget {
    pub path: Option<String>,
    pub fd: Option<i32>,
    pub create: Option<bool>,
}

#[napi(object)]
pub struct NativeSeekFrame {
    pub compressed_size: u32,
    pub decompressed_size: u32,
}

#[napi(object)]
pub struct NativeWriterOptions {
    pub target: NativeTarget,
    pub offset: f64,
    pub length: Option<f64>,
    pub sha384: Option<String>,
    pub compressed_size: Option<f64>,
    pub uncompressed_size: Option<f64>,
    pub max_window_log: u32,
    pub sync: bool,
    pub sparse: bool,
    pub seek_table: Option<Vec<NativeSeekFrame>>,
    pub threads: Option<u32>,
    pub high_water_mark: Option<f64>,
    pub buffer_size: Option<f64>,
    /// Decode straight into a mapping of the target (no heap window); see image-core `in_place`.
    pub in_place: Option<bool>,
    /// Write the buffered decoder's output with O_DIRECT; see image-core `direct_io`.
    pub direct_io: Option<bool>,
}

#[napi(object)]
pub struct NativeOutcome {
    pub sha384: String,
    pub compressed_bytes: f64,
    pub uncompressed_bytes: f64,
    pub elapsed: f64,
    pub frames: Option<f64>,
    /// Image writes: some bytes went to the target with O_DIRECT.
    pub direct_io: Option<bool>,
    /// Image writes: bytes written with O_DIRECT (the rest went through the page cache).
    pub direct_bytes: Option<f64>,
}

#[napi(object)]
pub struct NativeResult {
    pub ok: Option<NativeOutcome>,
    pub error: Option<NativeError>,
}

fn target(t: NativeTarget) -> image_core::Result<TargetSpec> {
    match (t.path, t.fd) {
        (Some(path), None) => Ok(TargetSpec::Path { path: path.into(), create: t.create.unwrap_or(false) }),
        (None, Some(fd)) => Ok(TargetSpec::Fd(fd)),
        _ => Err(ImageError::new(image_core::ErrorCode::InvalidOption, "target needs exactly one of path and fd")),
    }
}

fn from_write(o: WriteOutcome) -> NativeOutcome {
    NativeOutcome {
        sha384: o.sha384,
        compressed_bytes: o.compressed_bytes as f64,
        uncompressed_bytes: o.uncompressed_bytes as f64,
        elapsed: o.elapsed.as_secs_f64() * 1000.0,
        frames: None,
        direct_io: Some(o.direct_io),
        direct_bytes: Some(o.direct_bytes as f64),
    }
}

fn from_compress(o: CompressOutcome) -> NativeOutcome {
    NativeOutcome {
        sha384: o.sha384,
        compressed_bytes: o.compressed_bytes as f64,
        uncompressed_bytes: o.uncompressed_bytes as f64,
        elapsed: o.elapsed.as_secs_f64() * 1000.0,
        frames: o.frames.map(|f| f as f64),
        direct_io: None,
        direct_bytes: None,
    }
}

fn result<T>(r: image_core::Result<T>, map: impl FnOnce(T) -> NativeOutcome) -> NativeResult {
    match r {
        Ok(v) => NativeResult { ok: Some(map(v)), error: None },
        Err(e) => NativeResult { ok: None, error: Some(e.into()) },
    }
}

// ---------------------------------------------------------------------------------------------
// Image writer

type Resolver = Box<dyn FnOnce(Env) -> Result<Option<NativeError>> + Send>;

fn settle(deferred: napi::JsDeferred<Option<NativeError>, Resolver>, v: Option<NativeError>) {
    deferred.resolve(Box::new(move |_| Ok(v)));
}

#[napi]
pub struct NativeImageWriter {
    inner: Option<ImageWriter>,
    open_error: Option<ImageError>,
}

fn writer_options(o: NativeWriterOptions) -> image_core::Result<WriterOptions> {
    let mut w = WriterOptions::new(target(o.target)?);
    w.offset = o.offset as u64;
    w.length = o.length.map(|v| v as u64);
    w.expected_sha384 = o.sha384;
    w.expected_compressed_size = o.compressed_size.map(|v| v as u64);
    w.expected_uncompressed_size = o.uncompressed_size.map(|v| v as u64);
    w.max_window_log = o.max_window_log;
    w.sync = o.sync;
    w.sparse = o.sparse;
    w.seek_table = o.seek_table.map(|t| {
        t.into_iter()
            .map(|f| SeekFrame { compressed_size: f.compressed_size, decompressed_size: f.decompressed_size, checksum: None })
            .collect()
    });
    w.threads = o.threads.map(|t| t as usize).unwrap_or_else(default_threads);
    if let Some(h) = o.high_water_mark {
        w.high_water = h as usize;
    }
    if let Some(b) = o.buffer_size {
        w.buffer_size = b as usize;
    }
    w.in_place = o.in_place.unwrap_or(false);
    w.direct_io = o.direct_io.unwrap_or(false);
    Ok(w)
}

#[napi]
impl NativeImageWriter {
    /// Opens the target and starts the threads; check `openError()` right after.
    #[napi(constructor)]
    pub fn new(options: NativeWriterOptions) -> Self {
        let started = writer_options(options).and_then(ImageWriter::start);
        match started {
            Ok(w) => NativeImageWriter { inner: Some(w), open_error: None },
            Err(e) => NativeImageWriter { inner: None, open_error: Some(e) },
        }
    }

    #[napi]
    pub fn open_error(&mut self) -> Option<NativeError> {
        self.open_error.take().map(Into::into)
    }

    /// Queues a copy of `chunk`. `true`: write more now; `false`: await `drain()` first.
    #[napi(ts_return_type = "boolean | NativeError")]
    pub fn write(&mut self, chunk: Uint8Array) -> Either<bool, NativeError> {
        match self.inner.as_mut() {
            None => Either::B(ImageError::new(image_core::ErrorCode::Aborted, "the image writer is finished or aborted").into()),
            Some(w) => match w.write(chunk.to_vec()) {
                Ok(ready) => Either::A(ready),
                Err(e) => Either::B(e.into()),
            },
        }
    }

    /// Resolves with `null` once queued input is below the high-water mark, or with the error
    /// that stopped the pipeline. Resolved from a pipeline thread: no libuv thread waits.
    #[napi(ts_return_type = "Promise<NativeError | null>")]
    pub fn drain<'env>(&self, env: &'env Env) -> Result<Object<'env>> {
        let (deferred, promise) = env.create_deferred::<Option<NativeError>, Resolver>()?;
        match &self.inner {
            None => {
                settle(deferred, Some(ImageError::new(image_core::ErrorCode::Aborted, "the image writer is finished or aborted").into()))
            }
            Some(w) => w.on_drain(Box::new(move |r| {
                settle(deferred, r.err().map(Into::into));
            })),
        }
        Ok(promise)
    }

    #[napi(ts_return_type = "Promise<NativeResult>")]
    pub fn finish(&mut self) -> AsyncTask<FinishWriter> {
        AsyncTask::new(FinishWriter { inner: self.inner.take() })
    }

    #[napi(ts_return_type = "Promise<void>")]
    pub fn abort(&mut self) -> AsyncTask<Abort> {
        AsyncTask::new(Abort { writer: self.inner.take(), compressor: None })
    }
}

pub struct FinishWriter {
    inner: Option<ImageWriter>,
}

impl Task for FinishWriter {
    type Output = NativeResult;
    type JsValue = NativeResult;
    fn compute(&mut self) -> Result<NativeResult> {
        let r = match self.inner.take() {
            Some(w) => w.finish(),
            None => Err(ImageError::new(image_core::ErrorCode::Aborted, "the image writer is finished or aborted")),
        };
        Ok(result(r, from_write))
    }
    fn resolve(&mut self, _: Env, out: NativeResult) -> Result<NativeResult> {
        Ok(out)
    }
}

pub struct Abort {
    writer: Option<ImageWriter>,
    compressor: Option<CompressSession>,
}

impl Task for Abort {
    type Output = ();
    type JsValue = ();
    fn compute(&mut self) -> Result<()> {
        if let Some(w) = self.writer.take() {
            w.abort();
        }
        if let Some(c) = self.compressor.take() {
            c.abort();
        }
        Ok(())
    }
    fn resolve(&mut self, _: Env, _: ()) -> Result<()> {
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Compression

#[napi(object)]
pub struct NativeCompressOptions {
    pub level: i32,
    pub window_log: u32,
    pub long: bool,
    pub threads: Option<u32>,
    pub seekable_frame_size: Option<f64>,
    pub checksum: bool,
}

fn compress_options(o: NativeCompressOptions) -> CompressOptions {
    CompressOptions {
        level: o.level,
        window_log: o.window_log,
        long: o.long,
        threads: o.threads.map(|t| t as usize).unwrap_or_else(default_threads),
        seekable_frame_size: o.seekable_frame_size.map(|f| f as usize),
        checksum: o.checksum,
        abort: None,
    }
}

/// A cancellation flag JS sets from an AbortSignal (`compressFile`'s `signal`): the compression
/// running on the libuv pool checks it between blocks and stops with `ZSTD_ABORTED`.
#[napi]
pub struct NativeAbortFlag {
    flag: Arc<AtomicBool>,
}

#[napi]
impl NativeAbortFlag {
    #[napi(constructor)]
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        NativeAbortFlag { flag: Arc::new(AtomicBool::new(false)) }
    }

    #[napi]
    pub fn abort(&self) {
        self.flag.store(true, Ordering::Relaxed);
    }
}

pub struct CompressFileTask {
    input: String,
    input_offset: u64,
    input_length: Option<u64>,
    target: std::result::Result<TargetSpec, Option<ImageError>>,
    offset: u64,
    options: CompressOptions,
    sync: bool,
}

impl Task for CompressFileTask {
    type Output = NativeResult;
    type JsValue = NativeResult;
    fn compute(&mut self) -> Result<NativeResult> {
        match &mut self.target {
            Err(e) => Ok(NativeResult { ok: None, error: e.take().map(Into::into) }),
            Ok(t) => Ok(result(
                compress_file(self.input.as_ref(), self.input_offset, self.input_length, t, self.offset, &self.options, self.sync),
                from_compress,
            )),
        }
    }
    fn resolve(&mut self, _: Env, out: NativeResult) -> Result<NativeResult> {
        Ok(out)
    }
}

#[napi(ts_return_type = "Promise<NativeResult>")]
// One JS call, one argument list: the positional napi signature the TS wrapper calls.
#[allow(clippy::too_many_arguments)]
pub fn compress_file_native(
    input: String,
    input_offset: f64,
    input_length: Option<f64>,
    target: NativeTarget,
    offset: f64,
    options: NativeCompressOptions,
    sync: bool,
    abort: Option<&NativeAbortFlag>,
) -> AsyncTask<CompressFileTask> {
    let mut options = compress_options(options);
    options.abort = abort.map(|a| Arc::clone(&a.flag));
    AsyncTask::new(CompressFileTask {
        input,
        input_offset: input_offset as u64,
        input_length: input_length.map(|l| l as u64),
        target: self::target(target).map_err(Some),
        offset: offset as u64,
        options,
        sync,
    })
}

#[napi]
pub struct NativeCompressor {
    inner: Option<CompressSession>,
    open_error: Option<ImageError>,
}

#[napi]
impl NativeCompressor {
    #[napi(constructor)]
    pub fn new(target: NativeTarget, offset: f64, options: NativeCompressOptions, sync: bool) -> Self {
        let started = self::target(target).and_then(|t| CompressSession::start(t, offset as u64, compress_options(options), sync));
        match started {
            Ok(c) => NativeCompressor { inner: Some(c), open_error: None },
            Err(e) => NativeCompressor { inner: None, open_error: Some(e) },
        }
    }

    #[napi]
    pub fn open_error(&mut self) -> Option<NativeError> {
        self.open_error.take().map(Into::into)
    }

    #[napi(ts_return_type = "boolean | NativeError")]
    pub fn write(&mut self, chunk: Uint8Array) -> Either<bool, NativeError> {
        match self.inner.as_mut() {
            None => Either::B(ImageError::new(image_core::ErrorCode::Aborted, "the compressor is finished or aborted").into()),
            Some(c) => match c.write(chunk.to_vec()) {
                Ok(ready) => Either::A(ready),
                Err(e) => Either::B(e.into()),
            },
        }
    }

    #[napi(ts_return_type = "Promise<NativeError | null>")]
    pub fn drain<'env>(&self, env: &'env Env) -> Result<Object<'env>> {
        let (deferred, promise) = env.create_deferred::<Option<NativeError>, Resolver>()?;
        match &self.inner {
            None => settle(deferred, Some(ImageError::new(image_core::ErrorCode::Aborted, "the compressor is finished or aborted").into())),
            Some(c) => c.on_drain(Box::new(move |r| {
                settle(deferred, r.err().map(Into::into));
            })),
        }
        Ok(promise)
    }

    #[napi(ts_return_type = "Promise<NativeResult>")]
    pub fn finish(&mut self) -> AsyncTask<FinishCompressor> {
        AsyncTask::new(FinishCompressor { inner: self.inner.take() })
    }

    #[napi(ts_return_type = "Promise<void>")]
    pub fn abort(&mut self) -> AsyncTask<Abort> {
        AsyncTask::new(Abort { writer: None, compressor: self.inner.take() })
    }
}

pub struct FinishCompressor {
    inner: Option<CompressSession>,
}

impl Task for FinishCompressor {
    type Output = NativeResult;
    type JsValue = NativeResult;
    fn compute(&mut self) -> Result<NativeResult> {
        let r = match self.inner.take() {
            Some(c) => c.finish(),
            None => Err(ImageError::new(image_core::ErrorCode::Aborted, "the compressor is finished or aborted")),
        };
        Ok(result(r, from_compress))
    }
    fn resolve(&mut self, _: Env, out: NativeResult) -> Result<NativeResult> {
        Ok(out)
    }
}

/// Version of the linked libzstd.
#[napi]
pub fn zstd_version() -> String {
    image_core::zstd_version().to_string()
}

/// Threads the addon uses by default (available parallelism, at most 8).
#[napi]
pub fn default_thread_count() -> u32 {
    default_threads() as u32
}
