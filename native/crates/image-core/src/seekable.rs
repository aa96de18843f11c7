//! Parallel decode of the zstd seekable format. The caller supplies the seek table (read from the
//! end of the member with a range read); the stream still arrives in order, is hashed in order by
//! the hasher thread, and is cut here into frames that worker threads decode and write at their
//! own offsets. Leading skippable frames (Image Customizer's 24-byte UUID frame, COSI §5.3) are
//! skipped; the trailing seek-table frame is checked and skipped.

use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Mutex};
use std::thread;

use zstd_safe::DCtx;

use crate::decode::{truncated, DecodeSummary};
use crate::error::{zstd_error, ErrorCode, ImageError, Result};
use crate::frame::{frame_window_size, is_skippable_magic, read_u32, SeekFrame};
use crate::gate::Chunk;
use crate::session::Shared;

struct Job {
    index: usize,
    data: Vec<u8>,
    /// Position of the frame in the compressed stream, for error messages.
    stream_pos: u64,
    out_pos: u64,
    size: usize,
}

enum Phase {
    /// Collecting 8 bytes to tell a skippable frame from the first data frame.
    Prefix,
    Skip(u64),
    Frames,
    Trailer,
}

pub fn run_seekable(
    rx: Receiver<Arc<Chunk>>,
    shared: Arc<Shared>,
    frames: Vec<SeekFrame>,
    threads: usize,
    max_window_log: u32,
) -> Result<DecodeSummary> {
    let (job_tx, job_rx) = sync_channel::<Job>(threads);
    let job_rx = Arc::new(Mutex::new(job_rx));
    let mut workers = Vec::with_capacity(threads);
    for i in 0..threads {
        let job_rx = Arc::clone(&job_rx);
        let wshared = Arc::clone(&shared);
        let w = thread::Builder::new()
            .name(format!("zstd-seekable-{i}"))
            .spawn(move || worker(&job_rx, &wshared, max_window_log))
            .map_err(|e| ImageError::io("spawn", "decoder thread", &e, None));
        match w {
            Ok(w) => workers.push(w),
            Err(e) => {
                shared.fail(e.clone());
                drop(job_tx);
                for w in workers {
                    let _ = w.join();
                }
                return Err(e);
            }
        }
    }
    let result = dispatch(&rx, &shared, &frames, job_tx);
    for w in workers {
        let _ = w.join();
    }
    if let Err(e) = &result {
        shared.fail(e.clone());
    }
    // A worker failure is recorded in the gate; it wins over whatever the dispatcher saw.
    if let Some(f) = shared.gate.failure() {
        return Err(f);
    }
    result
}

fn worker(jobs: &Mutex<Receiver<Job>>, shared: &Shared, max_window_log: u32) {
    let mut dctx = DCtx::create();
    let mut out: Vec<u8> = Vec::new();
    loop {
        let job = match jobs.lock().unwrap().recv() {
            Ok(j) => j,
            Err(_) => return,
        };
        if shared.aborted() {
            return;
        }
        if let Err(e) = decode_frame(&mut dctx, &mut out, &job, max_window_log).and_then(|()| shared.target.write_at(&out, job.out_pos)) {
            shared.fail(e);
            return;
        }
    }
}

fn decode_frame(dctx: &mut DCtx<'_>, out: &mut Vec<u8>, job: &Job, max_window_log: u32) -> Result<()> {
    // One-shot decoding ignores ZSTD_d_windowLogMax, so the limit is checked on the header.
    if let Some(w) = frame_window_size(&job.data) {
        if w > 1u64 << max_window_log {
            return Err(ImageError::new(
                ErrorCode::WindowTooLarge,
                format!(
                    "seekable frame {} at compressed byte {} declares a {w}-byte window, more than 2^{max_window_log}; \
                     raise maxWindowLog if the image is trusted",
                    job.index, job.stream_pos
                ),
            )
            .at(job.stream_pos));
        }
    }
    out.clear();
    // One spare byte: a frame that decodes to more than the table says fails the length check
    // instead of libzstd's "destination too small".
    out.reserve(job.size + 1);
    let n = dctx.decompress(out, &job.data).map_err(|c| zstd_error(c, job.stream_pos, max_window_log))?;
    if n != job.size {
        return Err(ImageError::mismatch(
            ErrorCode::CorruptFrame,
            format!(
                "seekable frame {} at compressed byte {} decodes to {n} bytes, the seek table says {}",
                job.index, job.stream_pos, job.size
            ),
            job.size,
            n,
        )
        .at(job.stream_pos));
    }
    Ok(())
}

fn dispatch(
    rx: &Receiver<Arc<Chunk>>,
    shared: &Shared,
    frames: &[SeekFrame],
    job_tx: std::sync::mpsc::SyncSender<Job>,
) -> Result<DecodeSummary> {
    let mut phase = if frames.is_empty() { Phase::Trailer } else { Phase::Prefix };
    let mut head: Vec<u8> = Vec::with_capacity(8);
    let mut idx = 0usize;
    let mut cur: Vec<u8> = Vec::new();
    let mut cur_start = 0u64;
    let mut out_pos = 0u64;
    let mut consumed = 0u64;
    let mut trailer_start = 0u64;
    let mut trailer_head: Vec<u8> = Vec::with_capacity(8);

    for chunk in rx.iter() {
        if shared.aborted() {
            return Err(shared.failure_or_aborted());
        }
        let mut s: &[u8] = &chunk.data;
        while !s.is_empty() {
            match phase {
                Phase::Prefix => {
                    let take = (8 - head.len()).min(s.len());
                    head.extend_from_slice(&s[..take]);
                    s = &s[take..];
                    consumed += take as u64;
                    if head.len() < 8 {
                        continue;
                    }
                    if is_skippable_magic(read_u32(&head, 0)) {
                        phase = Phase::Skip(u64::from(read_u32(&head, 4)));
                    } else {
                        cur_start = consumed - 8;
                        cur = Vec::with_capacity(frames[0].compressed_size as usize);
                        cur.extend_from_slice(&head);
                        phase = Phase::Frames;
                        if cur.len() > frames[0].compressed_size as usize {
                            return Err(ImageError::new(
                                ErrorCode::SeekTableInvalid,
                                "seek table frame 0 is shorter than a zstd frame header",
                            ));
                        }
                    }
                    head.clear();
                }
                Phase::Skip(left) => {
                    let take = (left.min(s.len() as u64)) as usize;
                    s = &s[take..];
                    consumed += take as u64;
                    phase = if left == take as u64 { Phase::Prefix } else { Phase::Skip(left - take as u64) };
                }
                Phase::Frames => {}
                Phase::Trailer => {
                    let take = (8 - trailer_head.len()).min(s.len());
                    trailer_head.extend_from_slice(&s[..take]);
                    consumed += s.len() as u64;
                    s = &[];
                }
            }
            if let Phase::Frames = phase {
                let f = frames[idx];
                let need = f.compressed_size as usize - cur.len();
                let take = need.min(s.len());
                cur.extend_from_slice(&s[..take]);
                s = &s[take..];
                consumed += take as u64;
                if cur.len() == f.compressed_size as usize {
                    let data = std::mem::take(&mut cur);
                    let job = Job {
                        index: idx,
                        data,
                        stream_pos: cur_start,
                        out_pos: shared.offset + out_pos,
                        size: f.decompressed_size as usize,
                    };
                    job_tx.send(job).map_err(|_| shared.failure_or_aborted())?;
                    out_pos += u64::from(f.decompressed_size);
                    cur_start = consumed;
                    idx += 1;
                    if idx == frames.len() {
                        phase = Phase::Trailer;
                        trailer_start = consumed;
                    } else {
                        cur = Vec::with_capacity(frames[idx].compressed_size as usize);
                    }
                }
            }
        }
    }
    drop(job_tx);
    if shared.aborted() {
        return Err(shared.failure_or_aborted());
    }
    if !matches!(phase, Phase::Trailer) {
        let mut e = truncated(consumed);
        e.message = format!("{} (seek table frame {idx} of {} incomplete)", e.message, frames.len());
        return Err(e);
    }
    let trailer_len = consumed - trailer_start;
    if trailer_len > 0 {
        let ok = trailer_head.len() == 8
            && is_skippable_magic(read_u32(&trailer_head, 0))
            && 8 + u64::from(read_u32(&trailer_head, 4)) == trailer_len;
        if !ok {
            return Err(ImageError::new(
                ErrorCode::SeekTableInvalid,
                format!(
                    "{trailer_len} bytes follow the last frame of the seek table at compressed byte {trailer_start} \
                     and are not exactly one skippable frame: the seek table does not describe this stream"
                ),
            )
            .at(trailer_start));
        }
    }
    Ok(DecodeSummary { uncompressed: out_pos, complete: true, compressed: consumed, in_place: false })
}
