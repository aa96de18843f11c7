//! The in-place decoder (`WriterOptions::in_place`): decoding into a mapping of a read-write target.

mod common;
use common::image;

use std::fs::{self, File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use image_core::frame::skippable_frame;
use image_core::session::hex;
use image_core::{ErrorCode, ImageWriter, TargetSpec, WriteOutcome, WriterOptions};
use sha2::{Digest, Sha384};

fn zstd(data: &[u8], level: i32) -> Vec<u8> {
    let mut c = zstd_safe::CCtx::create();
    c.set_parameter(zstd_safe::CParameter::CompressionLevel(level)).unwrap();
    c.set_parameter(zstd_safe::CParameter::ChecksumFlag(true)).unwrap();
    let mut out = Vec::with_capacity(zstd_safe::compress_bound(data.len()));
    c.compress2(&mut out, data).unwrap();
    out
}

/// A read-write target file of `size` bytes (sparse), as the engine's open targets are.
fn rw_file(dir: &Path, name: &str, size: u64) -> File {
    let f = OpenOptions::new().read(true).write(true).create(true).truncate(true).open(dir.join(name)).unwrap();
    f.set_len(size).unwrap();
    f
}

fn run(f: &File, configure: impl FnOnce(&mut WriterOptions), z: &[u8]) -> image_core::Result<WriteOutcome> {
    let mut o = WriterOptions::new(TargetSpec::Fd(f.as_raw_fd()));
    o.in_place = true;
    configure(&mut o);
    let mut w = ImageWriter::start(o)?;
    for c in z.chunks(1 << 16) {
        w.write_all_blocking(c.to_vec())?;
    }
    w.finish()
}

#[test]
fn decodes_several_frames_into_the_mapped_range_at_an_unaligned_offset() {
    let dir = tempfile::tempdir().unwrap();
    let a = image(9 << 20, 1); // more than one flush and more than KEEP behind at the end
    let b = image(1 << 20, 2);
    let mut z = skippable_frame(0, &[9u8; 16]);
    z.extend(zstd(&a, 3));
    z.extend(zstd(&b, 1));
    let mut whole = a.clone();
    whole.extend(&b);
    let offset = 4096 + 512;
    let f = rw_file(dir.path(), "img", offset + whole.len() as u64 + 8192);
    let out = run(
        &f,
        |o| {
            o.offset = offset;
            o.length = Some(whole.len() as u64 + 4096);
            o.expected_sha384 = Some(hex(&Sha384::digest(&z)));
            o.expected_uncompressed_size = Some(whole.len() as u64);
        },
        &z,
    )
    .unwrap();
    assert!(out.in_place, "the read-write target should have been mapped");
    assert_eq!(out.uncompressed_bytes, whole.len() as u64);
    let got = fs::read(dir.path().join("img")).unwrap();
    assert!(got[..offset as usize].iter().all(|&b| b == 0));
    assert!(got[offset as usize..offset as usize + whole.len()] == whole[..]);
    assert!(got[offset as usize + whole.len()..].iter().all(|&b| b == 0));
}

#[test]
fn sparse_targets_keep_their_holes() {
    let dir = tempfile::tempdir().unwrap();
    let mut data = image(1 << 20, 9);
    data.extend(vec![0u8; 16 << 20]);
    data.extend(image(1 << 20, 10));
    let z = zstd(&data, 1);
    let f = rw_file(dir.path(), "sp", data.len() as u64);
    let out = run(
        &f,
        |o| {
            o.sparse = true;
            o.expected_uncompressed_size = Some(data.len() as u64);
        },
        &z,
    )
    .unwrap();
    assert!(out.in_place);
    let m = fs::metadata(dir.path().join("sp")).unwrap();
    assert!(m.blocks() * 512 < 8 << 20, "allocated {}", m.blocks() * 512);
    assert!(fs::read(dir.path().join("sp")).unwrap() == data);
}

#[test]
fn never_writes_past_the_range_and_reports_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let data = image(2 << 20, 4);
    let z = zstd(&data, 3);
    let f = rw_file(dir.path(), "r", 4 << 20);
    let e = run(&f, |o| o.length = Some((1 << 20) + 10), &z).unwrap_err();
    assert_eq!(e.code, ErrorCode::SizeMismatch);
    let got = fs::read(dir.path().join("r")).unwrap();
    assert!(got[(1 << 20) + 10..].iter().all(|&b| b == 0), "bytes landed past the range");
    let e = run(&f, |o| o.expected_uncompressed_size = Some(3 << 20), &z).unwrap_err();
    assert_eq!((e.code, e.actual.as_deref()), (ErrorCode::SizeMismatch, Some("2097152")));
}

#[test]
fn truncated_and_corrupt_input_are_corrupt_frames() {
    let dir = tempfile::tempdir().unwrap();
    let z = zstd(&image(1 << 20, 5), 3);
    let f = rw_file(dir.path(), "t", 2 << 20);
    let e = run(&f, |o| o.length = Some(2 << 20), &z[..z.len() - 100]).unwrap_err();
    assert_eq!(e.code, ErrorCode::CorruptFrame);
    let mut bad = z.clone();
    for b in &mut bad[z.len() / 2..z.len() / 2 + 64] {
        *b = !*b;
    }
    let e = run(&f, |o| o.length = Some(2 << 20), &bad).unwrap_err();
    assert_eq!(e.code, ErrorCode::CorruptFrame);
}

#[test]
fn falls_back_to_buffers_when_the_target_cannot_be_mapped() {
    let dir = tempfile::tempdir().unwrap();
    let data = image(1 << 20, 6);
    let z = zstd(&data, 3);
    // Shorter than the range: a mapping would fault past the end of the file.
    let f = rw_file(dir.path(), "short", 4096);
    let out = run(&f, |o| o.length = Some(2 << 20), &z).unwrap();
    assert!(!out.in_place);
    assert!(fs::read(dir.path().join("short")).unwrap() == data);
    // Write-only: mmap needs read access.
    let p = dir.path().join("wo");
    fs::write(&p, vec![0u8; 2 << 20]).unwrap();
    let wo = OpenOptions::new().write(true).open(&p).unwrap();
    let out = run(&wo, |o| o.length = Some(2 << 20), &z).unwrap();
    assert!(!out.in_place);
    assert!(fs::read(&p).unwrap()[..data.len()] == data[..]);
}

/// Bytes of `path` in the page cache (util-linux `fincore`).
fn cached(path: &Path) -> u64 {
    let out = std::process::Command::new("fincore").args(["--bytes", "--noheadings", "--output", "RES"]).arg(path).output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().parse().unwrap()
}

#[test]
fn drops_what_it_wrote_from_the_page_cache_as_it_goes() {
    let dir = tempfile::tempdir().unwrap();
    let data = image(96 << 20, 11);
    let z = zstd(&data, 1);
    let f = rw_file(dir.path(), "pc", data.len() as u64);
    let mut o = WriterOptions::new(TargetSpec::Fd(f.as_raw_fd()));
    o.in_place = true;
    o.expected_uncompressed_size = Some(data.len() as u64);
    let mut w = ImageWriter::start(o).unwrap();
    // All but the last few KiB: the decoder has written ~96 MiB and must have dropped most of it.
    let (most, rest) = z.split_at(z.len() - 4096);
    for c in most.chunks(1 << 16) {
        w.write_all_blocking(c.to_vec()).unwrap();
    }
    w.wait_drain().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let mid = cached(&dir.path().join("pc"));
    w.write_all_blocking(rest.to_vec()).unwrap();
    assert!(w.finish().unwrap().in_place);
    assert!(mid < 28 << 20, "{mid} bytes of the target were still cached mid-run");
    assert!(cached(&dir.path().join("pc")) < 1 << 20);
}
