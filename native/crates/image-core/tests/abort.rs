//! Its own test binary (own process, one test): fd and thread counts are exact here.

use std::fs;

use image_core::{ImageWriter, TargetSpec, WriterOptions};

fn count(dir: &str) -> usize {
    fs::read_dir(dir).unwrap().count()
}

#[test]
fn abort_midway_releases_threads_and_fds() {
    let dir = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..8u32 << 20).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    let mut z = Vec::with_capacity(zstd_safe::compress_bound(data.len()));
    zstd_safe::compress(&mut z, &data, 1).unwrap();
    let (fds, threads) = (count("/proc/self/fd"), count("/proc/self/task"));
    for round in 0..5 {
        let mut o = WriterOptions::new(TargetSpec::Path { path: dir.path().join("img"), create: true });
        o.high_water = 1 << 16;
        let mut w = ImageWriter::start(o).unwrap();
        for c in z[..z.len() / 2].chunks(1 << 16) {
            w.write_all_blocking(c.to_vec()).unwrap();
        }
        if round % 2 == 0 {
            w.abort();
        } else {
            drop(w); // dropping an unfinished session aborts it too
        }
        assert_eq!((count("/proc/self/fd"), count("/proc/self/task")), (fds, threads));
    }
}
