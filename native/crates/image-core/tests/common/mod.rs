//! Test data shared by the writer's integration tests.

/// Compressible, non-trivial data with a zero run in the middle (a third of the way in), so a test
/// sees literals, matches and a run the sparse writer may skip.
pub fn image(len: usize, seed: u64) -> Vec<u8> {
    let mut out = vec![0u8; len];
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    for (i, b) in out.iter_mut().enumerate() {
        if (len / 3..len / 3 + 300_000).contains(&i) {
            continue;
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = b"trident cosi image "[(x % 19) as usize] ^ ((i / 4096) as u8 & 1);
    }
    out
}
