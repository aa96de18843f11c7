//! Plain-Rust core of `@trident/zstd-native`: everything per-byte on the image path (SHA-384,
//! zstd decode, positioned writes, compression), with no knowledge of Node. The napi crate only
//! converts types.

#![warn(clippy::undocumented_unsafe_blocks)]

pub mod compress;
pub mod decode;
pub mod direct;
pub mod error;
pub mod frame;
pub mod gate;
pub mod in_place;
pub mod seekable;
pub mod session;
pub mod target;

pub use error::{ErrorCode, ImageError, Result};
pub use frame::{parse_seek_table, seek_table_size, SeekFrame, SeekTable};
pub use session::{ImageWriter, WriteOutcome, WriterOptions};
pub use target::TargetSpec;

/// Version of the linked libzstd, e.g. `1.5.7`.
pub fn zstd_version() -> &'static str {
    zstd_safe::version_string()
}
