//! Reading data files as they are distributed: plain or gzip-compressed.

use std::io::Read;
use std::path::Path;

use crate::error::LoadError;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Reads a file whole, decompressing it when it starts with the gzip magic bytes.
pub fn read_maybe_gzip(path: &Path) -> Result<Vec<u8>, LoadError> {
    let raw = std::fs::read(path).map_err(|e| LoadError::new(path, format!("cannot read: {e}")))?;
    if !raw.starts_with(&GZIP_MAGIC) {
        return Ok(raw);
    }
    let mut bytes = Vec::new();
    flate2::read::MultiGzDecoder::new(raw.as_slice())
        .read_to_end(&mut bytes)
        .map_err(|e| LoadError::new(path, format!("not a valid gzip file: {e}")))?;
    Ok(bytes)
}
