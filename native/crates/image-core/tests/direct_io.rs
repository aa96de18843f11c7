//! `WriterOptions::direct_io`: the buffered decoder's output written with O_DIRECT.

mod common;
use common::image;

use std::fs;
use std::path::Path;

use image_core::{ImageWriter, TargetSpec, WriteOutcome, WriterOptions};

fn zstd(data: &[u8], level: i32) -> Vec<u8> {
    let mut c = zstd_safe::CCtx::create();
    c.set_parameter(zstd_safe::CParameter::CompressionLevel(level)).unwrap();
    let mut out = Vec::with_capacity(zstd_safe::compress_bound(data.len()));
    c.compress2(&mut out, data).unwrap();
    out
}

/// Bytes of `path` in the page cache (util-linux `fincore`).
fn cached(path: &Path) -> u64 {
    let out = std::process::Command::new("fincore").args(["--bytes", "--noheadings", "--output", "RES"]).arg(path).output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().parse().unwrap()
}

fn write(path: &Path, offset: u64, direct_io: bool, z: &[u8]) -> WriteOutcome {
    let mut o = WriterOptions::new(TargetSpec::Path { path: path.to_path_buf(), create: true });
    o.offset = offset;
    o.direct_io = direct_io;
    o.buffer_size = 1 << 20;
    // No fsync, no writeback: whatever went through the page cache is still there afterwards.
    o.sync = false;
    let mut w = ImageWriter::start(o).unwrap();
    for c in z.chunks(1 << 16) {
        w.write_all_blocking(c.to_vec()).unwrap();
    }
    w.finish().unwrap()
}

#[test]
fn bypasses_the_page_cache_except_for_an_unaligned_head_and_tail() {
    // /var/tmp: a disk file system here (ext4); /tmp may be tmpfs on other machines.
    let dir = tempfile::tempdir_in("/var/tmp").unwrap();
    let data = image((5 << 20) + 777, 3);
    let z = zstd(&data, 3);
    let offset = 1000u64;
    let (buffered, direct) = (dir.path().join("buffered"), dir.path().join("direct"));
    let b = write(&buffered, offset, false, &z);
    let d = write(&direct, offset, true, &z);
    if !d.direct_io {
        eprintln!("skipped: /var/tmp refuses O_DIRECT here");
        return;
    }
    assert!(!b.direct_io && b.direct_bytes == 0);
    let end = offset + data.len() as u64;
    let head = 4096 - offset;
    assert_eq!(d.direct_bytes, data.len() as u64 - head - end % 4096);
    // Before reading them back (which caches them): the buffered copy is all in the cache, the
    // direct one holds only its head and tail pages.
    assert!(cached(&buffered) > 5 << 20);
    assert!(cached(&direct) <= 2 * 4096, "{} bytes of the direct target cached", cached(&direct));
    assert_eq!(fs::read(&direct).unwrap(), fs::read(&buffered).unwrap());
    assert!(fs::read(&direct).unwrap()[offset as usize..] == data[..]);
}
