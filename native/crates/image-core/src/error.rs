//! Coded errors. Every failure carries a stable string code that the napi layer hands to JS as
//! `err.code`; callers match on the code, never on the message.

use std::fmt;
use std::io;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// SHA-384 of the compressed bytes differs from the expected value.
    HashMismatch,
    /// More or fewer bytes than declared (compressed or uncompressed), or more than the target range.
    SizeMismatch,
    /// libzstd rejected the data, or the stream ended inside a frame.
    CorruptFrame,
    /// A frame needs a window larger than `maxWindowLog` allows.
    WindowTooLarge,
    /// A system call failed; `errno` says which error.
    Io,
    /// The session was aborted by its owner.
    Aborted,
    /// An option is out of range or inconsistent.
    InvalidOption,
    /// The seekable-format seek table is malformed or does not match the stream.
    SeekTableInvalid,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::HashMismatch => "ZSTD_HASH_MISMATCH",
            ErrorCode::SizeMismatch => "ZSTD_SIZE_MISMATCH",
            ErrorCode::CorruptFrame => "ZSTD_CORRUPT_FRAME",
            ErrorCode::WindowTooLarge => "ZSTD_WINDOW_TOO_LARGE",
            ErrorCode::Io => "ZSTD_IO",
            ErrorCode::Aborted => "ZSTD_ABORTED",
            ErrorCode::InvalidOption => "ZSTD_INVALID_OPTION",
            ErrorCode::SeekTableInvalid => "ZSTD_SEEK_TABLE_INVALID",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ImageError {
    pub code: ErrorCode,
    pub message: String,
    /// OS error number for `Io`.
    pub errno: Option<i32>,
    /// The system call or step that failed for `Io` (`open`, `pwrite`, `fsync`, ...).
    pub syscall: Option<&'static str>,
    /// Expected and actual values for mismatches (hex digests or byte counts as decimal strings).
    pub expected: Option<String>,
    pub actual: Option<String>,
    /// Byte position the error is about: compressed input position for decode errors, absolute
    /// target offset for I/O errors.
    pub position: Option<u64>,
}

impl ImageError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ImageError { code, message: message.into(), errno: None, syscall: None, expected: None, actual: None, position: None }
    }

    pub fn mismatch(code: ErrorCode, message: impl Into<String>, expected: impl ToString, actual: impl ToString) -> Self {
        let mut e = ImageError::new(code, message);
        e.expected = Some(expected.to_string());
        e.actual = Some(actual.to_string());
        e
    }

    pub fn io(syscall: &'static str, what: &str, err: &io::Error, position: Option<u64>) -> Self {
        let mut e = ImageError::new(ErrorCode::Io, format!("{syscall} failed on {what}: {err}"));
        e.errno = err.raw_os_error();
        e.syscall = Some(syscall);
        e.position = position;
        e
    }

    pub fn aborted() -> Self {
        ImageError::new(ErrorCode::Aborted, "the image writer was aborted")
    }

    pub fn at(mut self, position: u64) -> Self {
        self.position = Some(position);
        self
    }
}

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for ImageError {}

pub type Result<T> = std::result::Result<T, ImageError>;

/// Maps a libzstd error to our codes: the window limit gets its own code because the fix
/// (raise `maxWindowLog`, i.e. the COSI `compression.maxWindowLog`) differs from corrupt data.
pub fn zstd_error(code: usize, position: u64, max_window_log: u32) -> ImageError {
    use zstd_safe::zstd_sys::{ZSTD_ErrorCode, ZSTD_getErrorCode};
    // SAFETY: ZSTD_getErrorCode is a pure function of its integer argument.
    let kind = unsafe { ZSTD_getErrorCode(code) };
    let name = zstd_safe::get_error_name(code);
    if kind == ZSTD_ErrorCode::ZSTD_error_frameParameter_windowTooLarge {
        ImageError::new(
            ErrorCode::WindowTooLarge,
            format!(
                "a zstd frame near compressed byte {position} needs a window larger than 2^{max_window_log} bytes \
                 ({name}); raise maxWindowLog (COSI compression.maxWindowLog) if the image is trusted"
            ),
        )
        .at(position)
    } else {
        ImageError::new(ErrorCode::CorruptFrame, format!("zstd data is corrupt near compressed byte {position}: {name}")).at(position)
    }
}
