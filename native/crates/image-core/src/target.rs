//! The output side: a file or block device written with positioned writes at absolute offsets.

use std::fs::{File, OpenOptions};
use std::mem::ManuallyDrop;
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::fs::{FileExt, FileTypeExt, OpenOptionsExt};
use std::path::PathBuf;

use crate::error::{ErrorCode, ImageError, Result};

#[derive(Debug, Clone)]
pub enum TargetSpec {
    /// Opened write-only by the session and closed when it ends. `create` allows a new regular
    /// file (never for devices: a mistyped `/dev/sdx` must not become a file).
    Path { path: PathBuf, create: bool },
    /// Owned by the caller: never closed here.
    Fd(RawFd),
}

/// Zero-detection granularity for sparse writes: the usual filesystem block size.
pub const SPARSE_BLOCK: usize = 4096;

pub struct Target {
    file: ManuallyDrop<File>,
    owned: bool,
    name: String,
    sparse: bool,
    /// Start writeback of each written range at once (set when the session fsyncs at the end).
    pub writeback: bool,
    pub is_regular: bool,
}

impl Target {
    pub fn open(spec: &TargetSpec, sparse: bool) -> Result<Target> {
        let (file, owned, name) = match spec {
            TargetSpec::Path { path, create } => {
                let name = path.display().to_string();
                let file = OpenOptions::new()
                    .write(true)
                    .create(*create)
                    .mode(0o644)
                    .custom_flags(libc::O_CLOEXEC)
                    .open(path)
                    .map_err(|e| ImageError::io("open", &name, &e, None))?;
                (file, true, name)
            }
            TargetSpec::Fd(fd) => {
                if *fd < 0 {
                    return Err(ImageError::new(ErrorCode::InvalidOption, format!("target fd {fd} is not a file descriptor")));
                }
                (unsafe { File::from_raw_fd(*fd) }, false, format!("fd {fd}"))
            }
        };
        let file = ManuallyDrop::new(file);
        let meta = file.metadata().map_err(|e| ImageError::io("fstat", &name, &e, None));
        let mut t = Target { file, owned, name, sparse, writeback: false, is_regular: false };
        let meta = meta?;
        t.is_regular = meta.file_type().is_file();
        if sparse && !(t.is_regular || meta.file_type().is_block_device()) {
            return Err(ImageError::new(
                ErrorCode::InvalidOption,
                format!("sparse writes need a regular file or block device, {} is neither", t.name),
            ));
        }
        Ok(t)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Writes `buf` at absolute `pos`. With `sparse`, all-zero 4 KiB blocks are skipped, leaving
    /// holes (the caller promised the target already reads as zeros there).
    pub fn write_at(&self, buf: &[u8], pos: u64) -> Result<()> {
        self.write_data(buf, pos)?;
        if self.writeback {
            // Advisory: lets the disk work while we decode, so the final fsync has little left.
            // Errors surface at fsync, where they are reported.
            use std::os::fd::AsRawFd;
            unsafe {
                libc::sync_file_range(self.file.as_raw_fd(), pos as i64, buf.len() as i64, libc::SYNC_FILE_RANGE_WRITE);
            }
        }
        Ok(())
    }

    fn write_data(&self, buf: &[u8], pos: u64) -> Result<()> {
        if !self.sparse {
            return self.pwrite(buf, pos);
        }
        // Blocks are aligned to absolute positions so holes line up with filesystem blocks.
        let mut i = 0usize;
        let mut run_start: Option<usize> = None;
        while i < buf.len() {
            let abs = pos + i as u64;
            let to_boundary = SPARSE_BLOCK - (abs % SPARSE_BLOCK as u64) as usize;
            let end = (i + to_boundary).min(buf.len());
            let zero = is_zero(&buf[i..end]);
            match (zero, run_start) {
                (true, Some(s)) => {
                    self.pwrite(&buf[s..i], pos + s as u64)?;
                    run_start = None;
                }
                (false, None) => run_start = Some(i),
                _ => {}
            }
            i = end;
        }
        if let Some(s) = run_start {
            self.pwrite(&buf[s..], pos + s as u64)?;
        }
        Ok(())
    }

    fn pwrite(&self, buf: &[u8], pos: u64) -> Result<()> {
        self.file
            .write_all_at(buf, pos)
            .map_err(|e| ImageError::io("pwrite", &self.name, &e, Some(pos)))
    }

    /// After sparse writes a regular file must still reach the end of the image, even when the
    /// image ends in zeros that were never written.
    pub fn extend_to(&self, end: u64) -> Result<()> {
        if !self.is_regular {
            return Ok(());
        }
        let len = self.file.metadata().map_err(|e| ImageError::io("fstat", &self.name, &e, None))?.len();
        if len < end {
            self.file.set_len(end).map_err(|e| ImageError::io("ftruncate", &self.name, &e, Some(end)))?;
        }
        Ok(())
    }

    pub fn sync(&self) -> Result<()> {
        self.file.sync_all().map_err(|e| ImageError::io("fsync", &self.name, &e, None))
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        if self.owned {
            unsafe { ManuallyDrop::drop(&mut self.file) };
        }
    }
}

/// Word-wise OR reduction: the compiler vectorises this, unlike an early-exit byte loop.
pub fn is_zero(buf: &[u8]) -> bool {
    let (head, words, tail) = unsafe { buf.align_to::<u128>() };
    head.iter().all(|&b| b == 0) && tail.iter().all(|&b| b == 0) && words.iter().fold(0u128, |a, &w| a | w) == 0
}


impl Target {
    /// Makes a regular file end exactly at `end` (a compressed output replacing an older, longer one).
    pub fn truncate_to(&self, end: u64) -> Result<()> {
        if self.is_regular {
            self.file.set_len(end).map_err(|e| ImageError::io("ftruncate", &self.name, &e, Some(end)))?;
        }
        Ok(())
    }
}
