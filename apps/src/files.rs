//! Reading data files as they are distributed: plain or gzip-compressed.

use std::io::Read;
use std::path::Path;

use crate::error::LoadError;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const UTF8_BOM: &[u8] = b"\xef\xbb\xbf";

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

/// The first `limit` bytes of a text file's contents (decompressed when it is gzip), without the
/// byte-order mark: enough to tell its layout without reading all of it.
pub fn read_text_start(path: &Path, limit: usize) -> Result<Vec<u8>, LoadError> {
    use std::io::BufRead;
    let cannot_read = |e: std::io::Error| LoadError::new(path, format!("cannot read: {e}"));
    let mut reader = std::io::BufReader::new(std::fs::File::open(path).map_err(cannot_read)?);
    let gzip = reader
        .fill_buf()
        .map_err(cannot_read)?
        .starts_with(&GZIP_MAGIC);
    let mut bytes = Vec::new();
    let limit = limit as u64;
    if gzip {
        flate2::read::MultiGzDecoder::new(reader)
            .take(limit)
            .read_to_end(&mut bytes)
            .map_err(|e| LoadError::new(path, format!("not a valid gzip file: {e}")))?;
    } else {
        reader
            .take(limit)
            .read_to_end(&mut bytes)
            .map_err(cannot_read)?;
    }
    if bytes.starts_with(UTF8_BOM) {
        bytes.drain(..UTF8_BOM.len());
    }
    Ok(bytes)
}

/// Reads a text file whole (plain or gzip) without the UTF-8 byte-order mark that some
/// programs (Excel, Notepad) write at its start.
pub fn read_text_file(path: &Path) -> Result<Vec<u8>, LoadError> {
    let mut bytes = read_maybe_gzip(path)?;
    if bytes.starts_with(UTF8_BOM) {
        bytes.drain(..UTF8_BOM.len());
    }
    Ok(bytes)
}
