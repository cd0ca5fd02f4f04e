//! The IDX format of MNIST and its look-alikes (Fashion-MNIST, KMNIST): a big-endian header
//! (two zero bytes, a type byte, the number of dimensions, then each dimension as a u32) and
//! the unsigned bytes. Files may be gzip-compressed.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::{Color, ImageLayout, ImageSet, Pixels};
use crate::error::LoadError;
use crate::files::{open_maybe_gzip, read_text_start};

/// The IDX type byte for unsigned 8-bit values, the only one image datasets use.
const UNSIGNED_BYTE: u8 = 0x08;

/// The most values an IDX file may hold (4 GiB): a header claiming more is refused before any
/// memory is set aside for them.
pub const MAX_IDX_VALUES: usize = 1 << 32;

/// The dimensions and values of one IDX file.
#[derive(Clone, Debug, PartialEq)]
pub struct IdxArray {
    pub dims: Vec<usize>,
    pub values: Vec<u8>,
}

/// The header of an IDX file of `expected_dims` dimensions: its length in bytes.
fn header_len(expected_dims: usize) -> usize {
    4 + 4 * expected_dims
}

/// The dimensions in `header` (at least [`header_len`] bytes, or an error saying the file
/// is truncated after `available` bytes) and the number of values they promise, checked
/// against [`MAX_IDX_VALUES`].
fn parse_header(
    header: &[u8],
    expected_dims: usize,
    available: usize,
) -> Result<(Vec<usize>, usize), String> {
    let expected_magic = u32::from_be_bytes([0, 0, UNSIGNED_BYTE, expected_dims as u8]);
    let magic = header
        .get(..4)
        .ok_or_else(|| format!("truncated: {available} bytes, too short for an IDX header"))?;
    let magic = u32::from_be_bytes(magic.try_into().expect("four bytes"));
    if magic != expected_magic {
        return Err(format!(
            "wrong magic number 0x{magic:08x}, expected 0x{expected_magic:08x} (IDX, unsigned \
             bytes, {expected_dims} dimension{})",
            if expected_dims == 1 { "" } else { "s" }
        ));
    }
    let len = header_len(expected_dims);
    let dims: Vec<usize> = header
        .get(4..len)
        .ok_or_else(|| {
            format!("truncated: the header needs {len} bytes, the file has {available}")
        })?
        .chunks_exact(4)
        .map(|d| u32::from_be_bytes(d.try_into().expect("four bytes")) as usize)
        .collect();
    let shape = dims
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("×");
    let values = dims
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .filter(|&n| n <= MAX_IDX_VALUES)
        .ok_or_else(|| {
            format!(
                "the header claims {shape} values, more than the {MAX_IDX_VALUES} an IDX file \
                 may hold here"
            )
        })?;
    Ok((dims, values))
}

/// The error for a payload of `found` bytes where `dims` promise `values`.
fn payload_error(dims: &[usize], values: usize, found: usize) -> String {
    if found < values {
        let shape = dims
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("×");
        format!("truncated: the header promises {shape} = {values} values, the file holds {found}")
    } else {
        format!(
            "{} bytes after the {values} values the header promises",
            found - values
        )
    }
}

/// Parses IDX bytes that must hold unsigned bytes in `expected_dims` dimensions.
pub fn parse_idx(bytes: &[u8], expected_dims: usize) -> Result<IdxArray, String> {
    let (dims, values) = parse_header(bytes, expected_dims, bytes.len())?;
    let payload = &bytes[header_len(expected_dims)..];
    if payload.len() != values {
        return Err(payload_error(&dims, values, payload.len()));
    }
    Ok(IdxArray {
        dims,
        values: payload.to_vec(),
    })
}

/// Reads an IDX file (plain or gzip) of `expected_dims` dimensions. The sizes the header claims
/// are checked before the values are read: against [`MAX_IDX_VALUES`], and for a plain file
/// against its size; a gzip stream is decompressed no further than the claim.
pub fn read_idx(path: &Path, expected_dims: usize) -> Result<IdxArray, LoadError> {
    let error = |message: String| LoadError::new(path, message);
    let (mut stream, plain_size) = open_maybe_gzip(path)?;
    let cannot_read = |e: std::io::Error| match plain_size {
        Some(_) => error(format!("cannot read: {e}")),
        None => error(format!("not a valid gzip file: {e}")),
    };
    let mut header = Vec::with_capacity(header_len(expected_dims));
    (&mut stream)
        .take(header_len(expected_dims) as u64)
        .read_to_end(&mut header)
        .map_err(cannot_read)?;
    let (dims, values) = parse_header(&header, expected_dims, header.len()).map_err(error)?;
    if let Some(size) = plain_size {
        let payload = size.saturating_sub(header.len() as u64);
        if payload != values as u64 {
            return Err(error(payload_error(&dims, values, payload as usize)));
        }
    }
    let mut payload = Vec::new();
    stream
        .take(values as u64 + 1)
        .read_to_end(&mut payload)
        .map_err(cannot_read)?;
    if payload.len() != values {
        return Err(error(payload_error(&dims, values, payload.len())));
    }
    Ok(IdxArray {
        dims,
        values: payload,
    })
}

/// True when the file is an IDX image file (3 dimensions of unsigned bytes), plain or gzip.
pub fn is_idx_images(path: &Path) -> bool {
    read_text_start(path, 4).is_ok_and(|b| b.starts_with(&[0, 0, UNSIGNED_BYTE, 3]))
}

/// Images as `[count, rows, cols]` bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct IdxImages {
    pub count: usize,
    pub rows: usize,
    pub cols: usize,
    pub pixels: Vec<u8>,
}

pub fn read_images(path: &Path) -> Result<IdxImages, LoadError> {
    let IdxArray { dims, values } = read_idx(path, 3)?;
    Ok(IdxImages {
        count: dims[0],
        rows: dims[1],
        cols: dims[2],
        pixels: values,
    })
}

pub fn read_labels(path: &Path) -> Result<Vec<u8>, LoadError> {
    Ok(read_idx(path, 1)?.values)
}

/// Finds `stem` in `dir` as distributed: `train-images-idx3-ubyte`, with `.gz` or not, and
/// with a dot before `idx` as some mirrors spell it (`train-images.idx3-ubyte`).
pub fn find_file(dir: &Path, stem: &str) -> Result<PathBuf, LoadError> {
    let dotted = stem.replacen("-idx", ".idx", 1);
    [stem, dotted.as_str()]
        .iter()
        .flat_map(|name| [format!("{name}.gz"), name.to_string()])
        .map(|name| dir.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| LoadError::new(dir, format!("no {stem} or {stem}.gz in this folder")))
}

/// The two halves of an MNIST-style folder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    Train,
    Test,
}

impl Part {
    /// The file names (without `.gz`) of the images and the labels.
    fn stems(self) -> (&'static str, &'static str) {
        match self {
            Part::Train => ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
            Part::Test => ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
        }
    }
}

/// The optional `classes.txt` beside the IDX files: one class name per line, in label order.
pub const CLASSES_FILE: &str = "classes.txt";

fn read_class_names(path: &Path) -> Result<Vec<String>, LoadError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| LoadError::new(path, format!("cannot read: {e}")))?;
    let names: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    if names.len() < 2 {
        return Err(LoadError::new(path, "names fewer than two classes"));
    }
    Ok(names)
}

/// Reads one part of an MNIST-style folder. The class names are `classes` when given (a
/// saved model's), else those of `classes.txt`, else the label numbers `0..=max`.
pub fn load_part(
    dir: &Path,
    part: Part,
    classes: Option<&[String]>,
) -> Result<ImageSet, LoadError> {
    let (images_stem, labels_stem) = part.stems();
    let images_path = find_file(dir, images_stem)?;
    let labels_path = find_file(dir, labels_stem)?;
    let images = read_images(&images_path)?;
    let labels: Vec<usize> = read_labels(&labels_path)?
        .into_iter()
        .map(usize::from)
        .collect();
    if images.count != labels.len() {
        return Err(LoadError::new(
            &labels_path,
            format!(
                "{} labels for the {} images of {}",
                labels.len(),
                images.count,
                images_path.display()
            ),
        ));
    }
    if images.count == 0 {
        return Err(LoadError::new(&images_path, "holds no images"));
    }
    let classes_path = dir.join(CLASSES_FILE);
    let class_names = match classes {
        Some(names) => names.to_vec(),
        None if classes_path.is_file() => read_class_names(&classes_path)?,
        None => {
            let n = labels.iter().max().map_or(0, |&m| m + 1).max(2);
            (0..n).map(|c| c.to_string()).collect()
        }
    };
    if let Some((index, label)) = labels
        .iter()
        .enumerate()
        .find(|(_, l)| **l >= class_names.len())
    {
        return Err(LoadError::new(
            &labels_path,
            format!(
                "label {label} of image {index} is not one of the {} classes ({})",
                class_names.len(),
                class_names.join(", ")
            ),
        ));
    }
    Ok(ImageSet {
        layout: ImageLayout {
            color: Color::Gray,
            height: images.rows,
            width: images.cols,
        },
        pixels: Pixels::Bytes(images.pixels),
        ids: crate::split::rows(labels.len()),
        labels,
        class_names,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A hand-made IDX image file: 2 images of 2×3 pixels.
    fn two_images() -> Vec<u8> {
        let mut bytes = vec![0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3];
        bytes.extend(0..12u8);
        bytes
    }

    #[test]
    fn parses_a_hand_made_image_file() {
        let parsed = parse_idx(&two_images(), 3).unwrap();
        assert_eq!(parsed.dims, [2, 2, 3]);
        assert_eq!(parsed.values, (0..12u8).collect::<Vec<_>>());
        let labels = parse_idx(&[0, 0, 8, 1, 0, 0, 0, 3, 7, 0, 9], 1).unwrap();
        assert_eq!(labels.values, [7, 0, 9]);
    }

    #[test]
    fn reads_plain_and_gzip_files_alike() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("images-idx3-ubyte");
        std::fs::write(&plain, two_images()).unwrap();
        let gz = dir.path().join("images-idx3-ubyte.gz");
        let mut encoder =
            flate2::write::GzEncoder::new(std::fs::File::create(&gz).unwrap(), Default::default());
        encoder.write_all(&two_images()).unwrap();
        encoder.finish().unwrap();
        let expected = IdxImages {
            count: 2,
            rows: 2,
            cols: 3,
            pixels: (0..12).collect(),
        };
        assert_eq!(read_images(&plain).unwrap(), expected);
        assert_eq!(read_images(&gz).unwrap(), expected);
        assert!(is_idx_images(&gz) && is_idx_images(&plain));
        // `find_file` prefers the compressed copy.
        assert_eq!(find_file(dir.path(), "images-idx3-ubyte").unwrap(), gz);
    }

    #[test]
    fn a_header_claiming_billions_of_images_is_refused_before_reading() {
        let dir = tempfile::tempdir().unwrap();
        // Four billion 28×28 images, and twelve bytes of them.
        let mut claim = vec![0, 0, 8, 3];
        claim.extend(
            [4_000_000_000u32, 28, 28]
                .iter()
                .flat_map(|d| d.to_be_bytes()),
        );
        claim.extend([0; 12]);
        let plain = dir.path().join("huge-idx3-ubyte");
        std::fs::write(&plain, &claim).unwrap();
        let gz = dir.path().join("huge-idx3-ubyte.gz");
        let mut encoder =
            flate2::write::GzEncoder::new(std::fs::File::create(&gz).unwrap(), Default::default());
        encoder.write_all(&claim).unwrap();
        encoder.finish().unwrap();
        for path in [&plain, &gz] {
            let err = read_images(path).unwrap_err();
            assert!(
                err.path == *path && err.message.contains("claims 4000000000×28×28 values"),
                "{err}"
            );
        }
        assert!(parse_idx(&claim, 3).unwrap_err().contains("claims"));
        // Within the limit but far beyond the file: refused from the file's size.
        let mut short = vec![0, 0, 8, 3];
        short.extend([1_000_000u32, 28, 28].iter().flat_map(|d| d.to_be_bytes()));
        short.extend([0; 12]);
        std::fs::write(&plain, &short).unwrap();
        let err = read_images(&plain).unwrap_err();
        assert!(
            err.message.contains("truncated: the header promises"),
            "{err}"
        );
    }

    #[test]
    fn rejects_bad_headers_and_sizes() {
        let labels_as_images = parse_idx(&[0, 0, 8, 1, 0, 0, 0, 1, 5], 3).unwrap_err();
        assert!(labels_as_images.contains("wrong magic number 0x00000801, expected 0x00000803"));
        let mut truncated = two_images();
        truncated.pop();
        assert!(parse_idx(&truncated, 3).unwrap_err().contains("truncated"));
        assert!(parse_idx(&[0, 0, 8], 3).unwrap_err().contains("truncated"));
        assert!(
            parse_idx(&two_images()[..10], 3)
                .unwrap_err()
                .contains("truncated")
        );
        let mut extra = two_images();
        extra.push(0);
        assert!(parse_idx(&extra, 3).unwrap_err().contains("1 bytes after"));
        let floats = parse_idx(&[0, 0, 0x0d, 1, 0, 0, 0, 0], 1).unwrap_err();
        assert!(floats.contains("wrong magic number"));
    }

    fn write_part(dir: &Path, images: &[u8], labels: &[u8]) {
        std::fs::write(dir.join("train-images-idx3-ubyte"), images).unwrap();
        std::fs::write(dir.join("train-labels-idx1-ubyte"), labels).unwrap();
    }

    #[test]
    fn loads_a_part_with_class_names() {
        let dir = tempfile::tempdir().unwrap();
        write_part(dir.path(), &two_images(), &[0, 0, 8, 1, 0, 0, 0, 2, 4, 1]);
        let set = load_part(dir.path(), Part::Train, None).unwrap();
        assert_eq!(set.labels, [4, 1]);
        assert_eq!(set.class_names, ["0", "1", "2", "3", "4"]);
        assert_eq!((set.layout.height, set.layout.width), (2, 3));
        assert_eq!(*set.image(1).unwrap(), [6, 7, 8, 9, 10, 11]);

        std::fs::write(dir.path().join(CLASSES_FILE), "a\nb\nc\n").unwrap();
        let err = load_part(dir.path(), Part::Train, None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("label 4 of image 0 is not one of the 3 classes"),
            "{err}"
        );
        std::fs::write(dir.path().join(CLASSES_FILE), "a\nb\nc\nd\ne\n").unwrap();
        let set = load_part(dir.path(), Part::Train, None).unwrap();
        assert_eq!(set.class_names[4], "e");
        assert!(
            load_part(dir.path(), Part::Test, None)
                .unwrap_err()
                .to_string()
                .contains("no t10k-images")
        );
    }

    #[test]
    fn image_and_label_counts_must_agree() {
        let dir = tempfile::tempdir().unwrap();
        write_part(
            dir.path(),
            &two_images(),
            &[0, 0, 8, 1, 0, 0, 0, 3, 4, 1, 2],
        );
        let err = load_part(dir.path(), Part::Train, None).unwrap_err();
        assert!(err.path.ends_with("train-labels-idx1-ubyte"), "{err}");
        assert!(
            err.message.starts_with("3 labels for the 2 images"),
            "{err}"
        );
    }

    #[test]
    fn errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("broken.gz");
        std::fs::write(&path, [0x1f, 0x8b, 1, 2, 3]).unwrap();
        let err = read_images(&path).unwrap_err().to_string();
        assert!(
            err.starts_with(&path.display().to_string()) && err.contains("gzip"),
            "{err}"
        );
        let err = find_file(dir.path(), "t10k-labels-idx1-ubyte")
            .unwrap_err()
            .to_string();
        assert!(err.contains("no t10k-labels-idx1-ubyte"), "{err}");
    }
}
