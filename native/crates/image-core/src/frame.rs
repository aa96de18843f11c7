//! Byte-level zstd framing (RFC 8878 §3.1) and the seekable format's seek table
//! (zstd `contrib/seekable_format/zstd_seekable_compression_format.md`).

use crate::error::{ErrorCode, ImageError, Result};

pub const ZSTD_MAGIC: u32 = 0xFD2F_B528;
/// RFC 8878 §3.1.2: skippable frames use magics 0x184D2A50..=0x184D2A5F.
pub const SKIPPABLE_MAGIC_MASK: u32 = 0xFFFF_FFF0;
pub const SKIPPABLE_MAGIC_BASE: u32 = 0x184D_2A50;
/// The seekable format stores its table in the skippable frame with nibble E.
pub const SEEK_TABLE_MAGIC: u32 = 0x184D_2A5E;
pub const SEEKABLE_FOOTER_MAGIC: u32 = 0x8F92_EAB1;
pub const SEEK_TABLE_FOOTER_SIZE: usize = 9;

pub fn is_skippable_magic(magic: u32) -> bool {
    magic & SKIPPABLE_MAGIC_MASK == SKIPPABLE_MAGIC_BASE
}

pub fn read_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Window size a frame declares (RFC 8878 §3.1.1.1.2): `None` when `header` is too short.
/// For single-segment frames the window is the frame content size, as libzstd treats it.
pub fn frame_window_size(header: &[u8]) -> Option<u64> {
    if header.len() < 6 || read_u32(header, 0) != ZSTD_MAGIC {
        return None;
    }
    let fhd = header[4];
    let fcs_flag = fhd >> 6;
    let single_segment = (fhd >> 5) & 1 == 1;
    if !single_segment {
        let wd = header[5];
        let window_log = 10 + u64::from(wd >> 3);
        let base = 1u64 << window_log;
        return Some(base + (base / 8) * u64::from(wd & 7));
    }
    let did_size = [0usize, 1, 2, 4][usize::from(fhd & 3)];
    let fcs_size = [1usize, 2, 4, 8][usize::from(fcs_flag)];
    let at = 5 + did_size;
    let bytes = header.get(at..at + fcs_size)?;
    let mut v = 0u64;
    for (i, b) in bytes.iter().enumerate() {
        v |= u64::from(*b) << (8 * i);
    }
    Some(if fcs_size == 2 { v + 256 } else { v })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeekFrame {
    pub compressed_size: u32,
    pub decompressed_size: u32,
    pub checksum: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeekTable {
    pub frames: Vec<SeekFrame>,
    /// Size of the whole skippable frame holding the table (8-byte header included).
    pub table_size: usize,
}

impl SeekTable {
    pub fn compressed_total(&self) -> u64 {
        self.frames.iter().map(|f| u64::from(f.compressed_size)).sum()
    }
    pub fn decompressed_total(&self) -> u64 {
        self.frames.iter().map(|f| u64::from(f.decompressed_size)).sum()
    }
}

fn table_error(msg: impl Into<String>) -> ImageError {
    ImageError::new(ErrorCode::SeekTableInvalid, msg)
}

/// Size of the seek-table frame announced by the 9-byte footer at the end of `tail`.
pub fn seek_table_size(tail: &[u8]) -> Result<usize> {
    if tail.len() < SEEK_TABLE_FOOTER_SIZE {
        return Err(table_error(format!("need the last {SEEK_TABLE_FOOTER_SIZE} bytes of the stream, got {}", tail.len())));
    }
    let f = &tail[tail.len() - SEEK_TABLE_FOOTER_SIZE..];
    if read_u32(f, 5) != SEEKABLE_FOOTER_MAGIC {
        return Err(table_error("the stream does not end with a zstd seek table (footer magic 0x8F92EAB1 missing)"));
    }
    let n = read_u32(f, 0) as usize;
    let desc = f[4];
    if desc & 0x7C != 0 {
        return Err(table_error(format!("seek table descriptor 0x{desc:02x} has reserved bits set")));
    }
    let entry = if desc & 0x80 != 0 { 12 } else { 8 };
    Ok(8 + n * entry + SEEK_TABLE_FOOTER_SIZE)
}

/// Parses the seek table from the last bytes of a seekable stream (`tail` may hold more bytes
/// before the table; they are ignored).
pub fn parse_seek_table(tail: &[u8]) -> Result<SeekTable> {
    let size = seek_table_size(tail)?;
    if tail.len() < size {
        return Err(table_error(format!("the seek table is {size} bytes, only the last {} were given", tail.len())));
    }
    let t = &tail[tail.len() - size..];
    if read_u32(t, 0) != SEEK_TABLE_MAGIC || read_u32(t, 4) as usize != size - 8 {
        return Err(table_error("seek table skippable-frame header does not match its footer"));
    }
    let n = read_u32(t, size - SEEK_TABLE_FOOTER_SIZE) as usize;
    let with_checksum = t[size - 5] & 0x80 != 0;
    let entry = if with_checksum { 12 } else { 8 };
    let frames = (0..n)
        .map(|i| {
            let at = 8 + i * entry;
            SeekFrame {
                compressed_size: read_u32(t, at),
                decompressed_size: read_u32(t, at + 4),
                checksum: with_checksum.then(|| read_u32(t, at + 8)),
            }
        })
        .collect();
    Ok(SeekTable { frames, table_size: size })
}

/// Serialises a seek table frame (without checksums).
pub fn build_seek_table(frames: &[(u32, u32)]) -> Vec<u8> {
    let size = 8 + frames.len() * 8 + SEEK_TABLE_FOOTER_SIZE;
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(&SEEK_TABLE_MAGIC.to_le_bytes());
    out.extend_from_slice(&((size - 8) as u32).to_le_bytes());
    for (c, d) in frames {
        out.extend_from_slice(&c.to_le_bytes());
        out.extend_from_slice(&d.to_le_bytes());
    }
    out.extend_from_slice(&(frames.len() as u32).to_le_bytes());
    out.push(0);
    out.extend_from_slice(&SEEKABLE_FOOTER_MAGIC.to_le_bytes());
    out
}

/// A skippable frame with `payload`, as Image Customizer prepends to every COSI image (COSI §5.3).
pub fn skippable_frame(nibble: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + payload.len());
    out.extend_from_slice(&(SKIPPABLE_MAGIC_BASE | u32::from(nibble & 0xF)).to_le_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seek_table_round_trips() {
        let bytes = build_seek_table(&[(10, 100), (20, 200)]);
        let mut tail = vec![7u8; 5];
        tail.extend_from_slice(&bytes);
        let t = parse_seek_table(&tail).unwrap();
        assert_eq!(t.table_size, bytes.len());
        assert_eq!(t.frames.len(), 2);
        assert_eq!(t.frames[1], SeekFrame { compressed_size: 20, decompressed_size: 200, checksum: None });
        assert_eq!(t.compressed_total(), 30);
        assert_eq!(t.decompressed_total(), 300);
    }

    #[test]
    fn seek_table_errors_are_coded() {
        let bytes = build_seek_table(&[(10, 100)]);
        let e = parse_seek_table(&bytes[4..]).unwrap_err();
        assert_eq!(e.code, ErrorCode::SeekTableInvalid);
        assert!(e.message.contains("only the last"));
        let mut bad = bytes.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert_eq!(parse_seek_table(&bad).unwrap_err().code, ErrorCode::SeekTableInvalid);
        assert_eq!(parse_seek_table(&[1, 2]).unwrap_err().code, ErrorCode::SeekTableInvalid);
    }

    #[test]
    fn window_size_of_real_frames() {
        let data = vec![3u8; 1 << 20];
        let mut out = Vec::with_capacity(1 << 16);
        zstd_safe::compress(&mut out, &data, 3).unwrap();
        // One-shot compression writes a single-segment frame: window = content size.
        assert_eq!(frame_window_size(&out), Some(1 << 20));
        assert_eq!(frame_window_size(&[0, 1, 2]), None);
    }
}
