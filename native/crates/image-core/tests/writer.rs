//! End-to-end tests of the writer session and the compressor on real files.

mod common;
use common::image;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use image_core::compress::{compress_file, CompressOptions, CompressSession};
use image_core::frame::{build_seek_table, parse_seek_table, skippable_frame};
use image_core::session::hex;
use image_core::{ErrorCode, ImageWriter, TargetSpec, WriterOptions};
use sha2::{Digest, Sha384};

/// One frame with a content checksum, as the zstd CLI writes.
fn zstd(data: &[u8], level: i32) -> Vec<u8> {
    let mut c = zstd_safe::CCtx::create();
    c.set_parameter(zstd_safe::CParameter::CompressionLevel(level)).unwrap();
    c.set_parameter(zstd_safe::CParameter::ChecksumFlag(true)).unwrap();
    let mut out = Vec::with_capacity(zstd_safe::compress_bound(data.len()));
    c.compress2(&mut out, data).unwrap();
    out
}

fn sha(data: &[u8]) -> String {
    hex(&Sha384::digest(data))
}

fn target(dir: &Path, name: &str) -> (PathBuf, WriterOptions) {
    let p = dir.join(name);
    let opts = WriterOptions::new(TargetSpec::Path { path: p.clone(), create: true });
    (p, opts)
}

fn feed(w: &mut ImageWriter, data: &[u8], chunk: usize) -> image_core::Result<()> {
    for c in data.chunks(chunk) {
        w.write_all_blocking(c.to_vec())?;
    }
    Ok(())
}

fn run(opts: WriterOptions, compressed: &[u8], chunk: usize) -> image_core::Result<image_core::WriteOutcome> {
    let mut w = ImageWriter::start(opts)?;
    feed(&mut w, compressed, chunk)?;
    w.finish()
}

#[test]
fn round_trip_with_skippable_prefix_and_several_frames() {
    let dir = tempfile::tempdir().unwrap();
    let a = image(3 << 20, 1);
    let b = image(1 << 20, 2);
    let mut z = skippable_frame(0, &[9u8; 16]); // Image Customizer's UUID frame (COSI §5.3)
    z.extend(zstd(&a, 3));
    z.extend(zstd(&b, 1));
    let mut whole = a.clone();
    whole.extend(&b);
    let (p, mut o) = target(dir.path(), "img");
    o.offset = 4096;
    o.buffer_size = 1 << 20;
    o.expected_sha384 = Some(sha(&z).to_uppercase());
    o.expected_compressed_size = Some(z.len() as u64);
    o.expected_uncompressed_size = Some(whole.len() as u64);
    o.length = Some(whole.len() as u64);
    let out = run(o, &z, 65_536).unwrap();
    assert_eq!(out.sha384, sha(&z));
    assert_eq!(out.compressed_bytes, z.len() as u64);
    assert_eq!(out.uncompressed_bytes, whole.len() as u64);
    let got = fs::read(&p).unwrap();
    assert_eq!(&got[..4096], &[0u8; 4096][..]);
    assert!(got[4096..] == whole[..]);
}

#[test]
fn hash_mismatch_reports_expected_and_actual() {
    let dir = tempfile::tempdir().unwrap();
    let z = zstd(&image(1 << 20, 3), 3);
    let (_, mut o) = target(dir.path(), "img");
    o.expected_sha384 = Some("ab".repeat(48));
    let e = run(o, &z, 1 << 16).unwrap_err();
    assert_eq!(e.code, ErrorCode::HashMismatch);
    assert_eq!(e.expected.as_deref(), Some("ab".repeat(48).as_str()));
    assert_eq!(e.actual.as_deref(), Some(sha(&z).as_str()));
}

#[test]
fn size_errors_never_write_past_the_range() {
    let dir = tempfile::tempdir().unwrap();
    let data = image(2 << 20, 4);
    let z = zstd(&data, 3);
    // More than uncompressedSize.
    let (_, mut o) = target(dir.path(), "a");
    o.expected_uncompressed_size = Some(1 << 20);
    let e = run(o, &z, 1 << 16).unwrap_err();
    assert_eq!(e.code, ErrorCode::SizeMismatch);
    // Fewer than uncompressedSize.
    let (_, mut o) = target(dir.path(), "b");
    o.expected_uncompressed_size = Some(3 << 20);
    let e = run(o, &z, 1 << 16).unwrap_err();
    assert_eq!((e.code, e.actual.as_deref()), (ErrorCode::SizeMismatch, Some("2097152")));
    // More than the target range: nothing lands past offset + length.
    let (p, mut o) = target(dir.path(), "c");
    o.length = Some((1 << 20) + 10);
    o.buffer_size = 1 << 16;
    let e = run(o, &z, 1 << 16).unwrap_err();
    assert_eq!(e.code, ErrorCode::SizeMismatch);
    assert!(fs::metadata(&p).unwrap().len() <= (1 << 20) + 10);
    // More compressed bytes than compressedSize: rejected on write.
    let (_, mut o) = target(dir.path(), "d");
    o.expected_compressed_size = Some(z.len() as u64 - 1);
    let e = run(o, &z, 1 << 16).unwrap_err();
    assert_eq!(e.code, ErrorCode::SizeMismatch);
}

#[test]
fn truncated_and_corrupt_input_are_corrupt_frames() {
    let dir = tempfile::tempdir().unwrap();
    let z = zstd(&image(1 << 20, 5), 3);
    let (_, o) = target(dir.path(), "t");
    let e = run(o, &z[..z.len() - 100], 4096).unwrap_err();
    assert_eq!(e.code, ErrorCode::CorruptFrame);
    assert!(e.message.contains("truncated"), "{}", e.message);

    let mut bad = z.clone();
    for b in &mut bad[z.len() / 2..z.len() / 2 + 64] {
        *b = !*b;
    }
    let (_, o) = target(dir.path(), "c");
    let e = run(o, &bad, 4096).unwrap_err();
    assert_eq!(e.code, ErrorCode::CorruptFrame);

    let (_, o) = target(dir.path(), "n");
    let e = run(o, b"not zstd at all", 4096).unwrap_err();
    assert_eq!(e.code, ErrorCode::CorruptFrame);
}

#[test]
fn window_limit_is_enforced_and_validated() {
    let dir = tempfile::tempdir().unwrap();
    let z = zstd(&image(4 << 20, 6), 3); // single-segment frame: window = 4 MiB
    let (_, mut o) = target(dir.path(), "w");
    o.max_window_log = 20;
    assert_eq!(run(o, &z, 1 << 16).unwrap_err().code, ErrorCode::WindowTooLarge);
    for bad in [5, 9, 32] {
        let (_, mut o) = target(dir.path(), "x");
        o.max_window_log = bad;
        assert_eq!(ImageWriter::start(o).err().unwrap().code, ErrorCode::InvalidOption);
    }
}

#[test]
fn io_errors_carry_errno() {
    let dir = tempfile::tempdir().unwrap();
    let o = WriterOptions::new(TargetSpec::Path { path: dir.path().join("missing/dir/img"), create: true });
    let e = ImageWriter::start(o).err().unwrap();
    assert_eq!((e.code, e.errno, e.syscall), (ErrorCode::Io, Some(libc::ENOENT), Some("open")));
    // A read-only descriptor: the first pwrite fails with EBADF.
    let p = dir.path().join("ro");
    fs::write(&p, b"").unwrap();
    let f = fs::File::open(&p).unwrap();
    use std::os::fd::AsRawFd;
    let o = WriterOptions::new(TargetSpec::Fd(f.as_raw_fd()));
    let e = run(o, &zstd(&image(1 << 20, 7), 1), 1 << 16).unwrap_err();
    assert_eq!((e.code, e.errno, e.syscall), (ErrorCode::Io, Some(libc::EBADF), Some("pwrite")));
    drop(f);
}

#[test]
fn sparse_target_gets_holes() {
    let dir = tempfile::tempdir().unwrap();
    let mut data = image(1 << 20, 9);
    data.extend(vec![0u8; 16 << 20]);
    data.extend(image(1 << 20, 10));
    data.extend(vec![0u8; 1 << 20]); // ends in zeros: the file must still reach full size
    let z = zstd(&data, 1);
    let (p, mut o) = target(dir.path(), "sp");
    o.sparse = true;
    o.expected_uncompressed_size = Some(data.len() as u64);
    run(o, &z, 1 << 16).unwrap();
    let m = fs::metadata(&p).unwrap();
    assert_eq!(m.len(), data.len() as u64);
    assert!(m.blocks() * 512 < 8 << 20, "allocated {}", m.blocks() * 512);
    assert!(fs::read(&p).unwrap() == data);
}

fn seekable_bytes(dir: &Path, data: &[u8], frame: usize, threads: usize) -> Vec<u8> {
    let src = dir.join("src.raw");
    fs::write(&src, data).unwrap();
    let out = dir.join("src.zst");
    let opts = CompressOptions { level: 3, threads, seekable_frame_size: Some(frame), ..Default::default() };
    let r = compress_file(&src, 0, None, &TargetSpec::Path { path: out.clone(), create: true }, 0, &opts, false).unwrap();
    let z = fs::read(&out).unwrap();
    assert_eq!(r.compressed_bytes, z.len() as u64);
    assert_eq!(r.sha384, sha(&z));
    assert_eq!(r.frames, Some(data.len().div_ceil(frame) as u64));
    z
}

#[test]
fn seekable_parallel_decode_round_trips_with_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let data = image((5 << 20) + 12345, 11);
    let z = seekable_bytes(dir.path(), &data, 1 << 20, 2);
    let table = parse_seek_table(&z[z.len() - 200..]).unwrap();
    assert_eq!(table.frames.len(), 6);
    assert_eq!(table.decompressed_total(), data.len() as u64);
    let mut with_prefix = skippable_frame(0, &[1u8; 16]);
    with_prefix.extend(&z);
    for (input, threads) in [(&z, 3usize), (&with_prefix, 2)] {
        let (p, mut o) = target(dir.path(), "seek");
        o.seek_table = Some(table.frames.clone());
        o.threads = threads;
        o.offset = 512;
        o.expected_sha384 = Some(sha(input));
        o.expected_uncompressed_size = Some(data.len() as u64);
        let out = run(o, input, 100_000).unwrap();
        assert_eq!(out.uncompressed_bytes, data.len() as u64);
        assert!(fs::read(&p).unwrap()[512..] == data[..]);
        fs::remove_file(&p).unwrap();
    }
    // The same bytes decode sequentially too: the seek table is a skippable frame.
    let (p, o) = target(dir.path(), "seq");
    run(o, &z, 1 << 16).unwrap();
    assert!(fs::read(&p).unwrap() == data);
}

#[test]
fn seekable_errors() {
    let dir = tempfile::tempdir().unwrap();
    let data = image(3 << 20, 12);
    let z = seekable_bytes(dir.path(), &data, 1 << 20, 2);
    let table = parse_seek_table(&z).unwrap();
    // A table that does not match the stream.
    let mut wrong = table.frames.clone();
    wrong[0].decompressed_size -= 1;
    wrong[1].decompressed_size += 1;
    let (_, mut o) = target(dir.path(), "w");
    o.seek_table = Some(wrong);
    assert_eq!(run(o, &z, 1 << 16).unwrap_err().code, ErrorCode::CorruptFrame);
    // Truncated in the middle of a frame.
    let (_, mut o) = target(dir.path(), "t");
    o.seek_table = Some(table.frames.clone());
    let e = run(o, &z[..z.len() / 2], 1 << 16).unwrap_err();
    assert_eq!(e.code, ErrorCode::CorruptFrame);
    // Table larger than the declared size: rejected before anything is written.
    let (_, mut o) = target(dir.path(), "s");
    o.seek_table = Some(table.frames.clone());
    o.expected_uncompressed_size = Some(1000);
    assert_eq!(ImageWriter::start(o).err().unwrap().code, ErrorCode::SizeMismatch);
    // Garbage after the last frame.
    let mut extra = z[..z.len() - table.table_size].to_vec();
    extra.extend(b"garbage!garbage!");
    let (_, mut o) = target(dir.path(), "g");
    o.seek_table = Some(table.frames.clone());
    assert_eq!(run(o, &extra, 1 << 16).unwrap_err().code, ErrorCode::SeekTableInvalid);
    // Frame window larger than allowed.
    let (_, mut o) = target(dir.path(), "x");
    o.seek_table = Some(table.frames.clone());
    o.max_window_log = 19;
    assert_eq!(ImageWriter::start(o).err().unwrap().code, ErrorCode::WindowTooLarge);
    let _ = build_seek_table(&[]);
}

#[test]
fn compresses_a_range_of_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = image(3 << 20, 40);
    let src = dir.path().join("disk.raw");
    fs::write(&src, &data).unwrap();
    let out = dir.path().join("part.zst");
    let spec = TargetSpec::Path { path: out.clone(), create: true };
    let opts = CompressOptions { level: 1, threads: 2, ..Default::default() };
    let r = compress_file(&src, 4096, Some(1 << 20), &spec, 0, &opts, false).unwrap();
    assert_eq!(r.uncompressed_bytes, 1 << 20);
    let (p, o) = target(dir.path(), "part");
    run(o, &fs::read(&out).unwrap(), 1 << 16).unwrap();
    assert!(fs::read(&p).unwrap()[..] == data[4096..4096 + (1 << 20)]);
    let e = compress_file(&src, 4096, Some(3 << 20), &spec, 0, &opts, false).unwrap_err();
    assert_eq!(e.code, ErrorCode::SizeMismatch);
}

#[test]
fn many_writers_in_parallel() {
    let dir = tempfile::tempdir().unwrap();
    let inputs: Vec<(Vec<u8>, Vec<u8>)> = (0..6)
        .map(|i| {
            let d = image((1 << 20) + i * 777, 20 + i as u64);
            let z = zstd(&d, 1);
            (d, z)
        })
        .collect();
    std::thread::scope(|s| {
        for (i, (d, z)) in inputs.iter().enumerate() {
            let dir = dir.path();
            s.spawn(move || {
                let (p, mut o) = target(dir, &format!("p{i}"));
                o.expected_sha384 = Some(sha(z));
                o.expected_uncompressed_size = Some(d.len() as u64);
                run(o, z, 8192 + i).unwrap();
                assert!(fs::read(&p).unwrap() == *d);
            });
        }
    });
}

#[test]
fn compressor_streaming_session_and_long_mode() {
    let dir = tempfile::tempdir().unwrap();
    let data = image(6 << 20, 30);
    let out = dir.path().join("s.zst");
    fs::write(&out, vec![1u8; 100 << 20]).unwrap(); // longer old content is cut off
    let opts = CompressOptions { level: 5, window_log: 24, long: true, threads: 2, ..Default::default() };
    let mut s = CompressSession::start(TargetSpec::Path { path: out.clone(), create: true }, 0, opts, true).unwrap();
    for c in data.chunks(300_000) {
        if !s.write(c.to_vec()).unwrap() {
            s.wait_drain().unwrap();
        }
    }
    let r = s.finish().unwrap();
    let z = fs::read(&out).unwrap();
    assert_eq!((r.compressed_bytes, r.uncompressed_bytes), (z.len() as u64, data.len() as u64));
    assert_eq!(r.sha384, sha(&z));
    let (p, mut o) = target(dir.path(), "d");
    o.max_window_log = 24;
    run(o, &z, 1 << 16).unwrap();
    assert!(fs::read(&p).unwrap() == data);
    let bad = CompressOptions { level: 23, ..Default::default() };
    assert_eq!(
        CompressSession::start(TargetSpec::Path { path: out, create: true }, 0, bad, false).err().unwrap().code,
        ErrorCode::InvalidOption
    );
}

#[test]
fn compress_file_stops_when_its_abort_flag_is_set() {
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    fs::write(&src, image(4 << 20, 12)).unwrap();
    let opts = CompressOptions { level: 1, threads: 1, abort: Some(Arc::new(AtomicBool::new(true))), ..CompressOptions::default() };
    let e = compress_file(&src, 0, None, &TargetSpec::Path { path: dir.path().join("out"), create: true }, 0, &opts, false).unwrap_err();
    assert_eq!(e.code, ErrorCode::Aborted);
}
