//! Reading data files as they are distributed: plain or gzip-compressed.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::LoadError;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const UTF8_BOM: &[u8] = b"\xef\xbb\xbf";

/// A file's contents as a stream, decompressed when it starts with the gzip magic bytes, and
/// the size of the contents when the file is plain (a gzip stream's is unknown until read).
pub fn open_maybe_gzip(path: &Path) -> Result<(Box<dyn Read>, Option<u64>), LoadError> {
    use std::io::BufRead;
    let cannot_read = |e: std::io::Error| LoadError::new(path, format!("cannot read: {e}"));
    let file = std::fs::File::open(path).map_err(cannot_read)?;
    let size = file.metadata().map_err(cannot_read)?.len();
    let mut reader = std::io::BufReader::new(file);
    if reader
        .fill_buf()
        .map_err(cannot_read)?
        .starts_with(&GZIP_MAGIC)
    {
        return Ok((Box::new(flate2::read::MultiGzDecoder::new(reader)), None));
    }
    Ok((Box::new(reader), Some(size)))
}

/// A text file's contents as a stream (decompressed when it is gzip), without the byte-order
/// mark: for files read once, front to back, that need not fit in memory.
pub fn open_text_stream(path: &Path) -> Result<Box<dyn Read>, LoadError> {
    use std::io::BufRead;
    let cannot_read = |e: std::io::Error| LoadError::new(path, format!("cannot read: {e}"));
    let mut reader = std::io::BufReader::new(std::fs::File::open(path).map_err(cannot_read)?);
    if reader
        .fill_buf()
        .map_err(cannot_read)?
        .starts_with(&GZIP_MAGIC)
    {
        let mut decoded = std::io::BufReader::new(flate2::read::MultiGzDecoder::new(reader));
        let bom = decoded
            .fill_buf()
            .map_err(|e| LoadError::new(path, format!("not a valid gzip file: {e}")))?
            .starts_with(UTF8_BOM);
        if bom {
            decoded.consume(UTF8_BOM.len());
        }
        return Ok(Box::new(decoded));
    }
    if reader
        .fill_buf()
        .map_err(cannot_read)?
        .starts_with(UTF8_BOM)
    {
        reader.consume(UTF8_BOM.len());
    }
    Ok(Box::new(reader))
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

/// The repository's `data/` folder, where the bundled datasets live; `BURN_ZOO_DATA`
/// overrides it.
pub fn data_dir() -> PathBuf {
    std::env::var_os("BURN_ZOO_DATA")
        .map(Into::into)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../data"))
}

/// `path` made absolute (and resolved) when it exists, so that a path recorded in
/// `model.json` still works from another working directory.
pub fn absolute(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| path.to_path_buf())
}
