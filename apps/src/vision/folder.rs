//! A folder of images with one sub-folder per class (`DIR/<class>/*.png`), as torchvision's
//! `ImageFolder` and Keras' `image_dataset_from_directory` read it. Classes are the sub-folder
//! names in sorted order; PNG and JPEG files are read, other files ignored. Loading lists the
//! files and reads each one's header (its format and size); the pixels are decoded per batch.

use std::path::{Path, PathBuf};

use image::DynamicImage;
use image::imageops::FilterType;
use rayon::prelude::*;

use super::{Color, ImageLayout, ImageSet, Pixels};
use crate::error::LoadError;
use crate::split::ExampleId;

const EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

/// What the user fixed about the images; the rest comes from the first image.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct FolderOptions {
    /// `(width, height)` every image is resized to.
    pub image_size: Option<(usize, usize)>,
    pub color: Option<Color>,
}

/// The longest side of an image read from a folder, in pixels. A few hundred bytes of JPEG can
/// claim 2,048 × 65,055 pixels (the fuzzer found one): within the `image` crate's 512 MiB
/// limit, but 11 s and 1.3 GB to decode and resize. Refused instead, by name.
pub const MAX_IMAGE_SIDE: u32 = 16_384;

/// Where an image's bytes are: a file, or bytes already in memory (an upload), named by the
/// path errors show.
#[derive(Clone, Copy)]
enum Source<'a> {
    File(&'a Path),
    Bytes(&'a Path, &'a [u8]),
}

/// A reader that guessed the format from the first bytes, for either source.
enum Reader<'a> {
    File(image::ImageReader<std::io::BufReader<std::fs::File>>),
    Bytes(image::ImageReader<std::io::Cursor<&'a [u8]>>),
}

impl<'a> Source<'a> {
    fn path(self) -> &'a Path {
        match self {
            Source::File(path) | Source::Bytes(path, _) => path,
        }
    }

    fn reader(self) -> Result<Reader<'a>, LoadError> {
        let path = self.path();
        let cannot_read = |e: std::io::Error| LoadError::new(path, format!("cannot read: {e}"));
        Ok(match self {
            Source::File(path) => Reader::File(
                image::ImageReader::open(path)
                    .map_err(cannot_read)?
                    .with_guessed_format()
                    .map_err(cannot_read)?,
            ),
            Source::Bytes(_, bytes) => Reader::Bytes(
                image::ImageReader::new(std::io::Cursor::new(bytes))
                    .with_guessed_format()
                    .map_err(cannot_read)?,
            ),
        })
    }

    fn open(self) -> Result<DynamicImage, LoadError> {
        // The claimed size first, for a message that says what is wrong; the decoder then holds
        // to it too (and to the crate's 512 MiB allocation limit).
        self.dimensions()?;
        let mut limits = image::Limits::default();
        limits.max_image_width = Some(MAX_IMAGE_SIDE);
        limits.max_image_height = Some(MAX_IMAGE_SIDE);
        let decoded = match self.reader()? {
            Reader::File(mut reader) => {
                reader.limits(limits);
                reader.decode()
            }
            Reader::Bytes(mut reader) => {
                reader.limits(limits);
                reader.decode()
            }
        };
        decoded.map_err(|e| LoadError::new(self.path(), format!("not a readable image: {e}")))
    }

    /// `(width, height)` from the header, without decoding the pixels.
    fn dimensions(self) -> Result<(usize, usize), LoadError> {
        let path = self.path();
        let (width, height) = match self.reader()? {
            Reader::File(reader) => reader.into_dimensions(),
            Reader::Bytes(reader) => reader.into_dimensions(),
        }
        .map_err(|e| LoadError::new(path, format!("not a readable image: {e}")))?;
        if width.max(height) > MAX_IMAGE_SIDE {
            return Err(LoadError::new(
                path,
                format!(
                    "not a readable image: it is {width}×{height} pixels, and at most \
                     {MAX_IMAGE_SIDE} a side are read"
                ),
            ));
        }
        Ok((width as usize, height as usize))
    }
}

/// Converts to the layout's colour and size; channels × height × width bytes.
fn to_layout(image: DynamicImage, layout: ImageLayout) -> Vec<u8> {
    let (w, h) = (layout.width as u32, layout.height as u32);
    let resize = |img: DynamicImage| {
        if (img.width(), img.height()) == (w, h) {
            img
        } else {
            img.resize_exact(w, h, FilterType::Triangle)
        }
    };
    // `into_*` converts only when the decoded image is of another kind; decoding runs per
    // batch, so the copies it saves count.
    match layout.color {
        Color::Gray => resize(image).into_luma8().into_raw(),
        Color::Rgb => {
            let interleaved = resize(image).into_rgb8().into_raw();
            let plane = interleaved.len() / 3;
            let mut planes = vec![0; interleaved.len()];
            let (red, rest) = planes.split_at_mut(plane);
            let (green, blue) = rest.split_at_mut(plane);
            for (i, pixel) in interleaved.chunks_exact(3).enumerate() {
                (red[i], green[i], blue[i]) = (pixel[0], pixel[1], pixel[2]);
            }
            planes
        }
    }
}

/// Reads one image file into `layout`, resizing it when its size differs.
pub fn decode_image(path: &Path, layout: ImageLayout) -> Result<Vec<u8>, LoadError> {
    Ok(to_layout(Source::File(path).open()?, layout))
}

/// [`decode_image`] for a PNG or JPEG file already in memory; `name` is the path its errors
/// show.
pub fn decode_image_bytes(
    name: &Path,
    bytes: &[u8],
    layout: ImageLayout,
) -> Result<Vec<u8>, LoadError> {
    Ok(to_layout(Source::Bytes(name, bytes).open()?, layout))
}

/// The class sub-folders of `dir` and their image files, both sorted by name.
fn list_classes(dir: &Path) -> Result<Vec<(String, Vec<PathBuf>)>, LoadError> {
    let entries = |dir: &Path| -> Result<Vec<PathBuf>, LoadError> {
        let mut paths = std::fs::read_dir(dir)
            .map_err(|e| LoadError::new(dir, format!("cannot read the folder: {e}")))?
            .map(|entry| entry.map(|e| e.path()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| LoadError::new(dir, format!("cannot read the folder: {e}")))?;
        paths.retain(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        });
        paths.sort();
        Ok(paths)
    };
    let mut classes = Vec::new();
    for class_dir in entries(dir)?.into_iter().filter(|p| p.is_dir()) {
        let images: Vec<PathBuf> = entries(&class_dir)?
            .into_iter()
            .filter(|p| {
                p.is_file()
                    && p.extension().is_some_and(|e| {
                        EXTENSIONS.contains(&e.to_string_lossy().to_lowercase().as_str())
                    })
            })
            .collect();
        if images.is_empty() {
            return Err(LoadError::new(
                &class_dir,
                "this class folder has no PNG or JPEG images",
            ));
        }
        let name = class_dir
            .file_name()
            .expect("a listed entry has a name")
            .to_string_lossy()
            .into_owned();
        classes.push((name, images));
    }
    if classes.is_empty() {
        return Err(LoadError::new(
            dir,
            "no class sub-folders: expected one folder of images per class (DIR/<class>/*.png)",
        ));
    }
    Ok(classes)
}

/// The layout of the first image, overridden by the options.
fn first_layout(path: &Path, options: FolderOptions) -> Result<ImageLayout, LoadError> {
    let image = Source::File(path).open()?;
    let (width, height) = options
        .image_size
        .unwrap_or((image.width() as usize, image.height() as usize));
    let color = options.color.unwrap_or(if image.color().has_color() {
        Color::Rgb
    } else {
        Color::Gray
    });
    Ok(ImageLayout {
        color,
        height,
        width,
    })
}

/// How to treat an image whose size differs from the layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SizePolicy {
    /// Resize it (the user gave `--image-size`, or the model fixes the size).
    Resize,
    /// Refuse it: the size was taken from the first image, and mixed sizes are likely a mistake.
    Reject,
}

/// Lists a class-per-folder image set, checking every file's header (in parallel): a file that
/// is not a PNG or JPEG, or (with [`SizePolicy::Reject`]) of another size, is an error naming
/// it. `classes` fixes the class names and their order (a folder not among them is an error);
/// otherwise they are the sorted sub-folder names.
pub fn load_folder(
    dir: &Path,
    layout: ImageLayout,
    size_policy: SizePolicy,
    classes: Option<&[String]>,
) -> Result<ImageSet, LoadError> {
    let listed = list_classes(dir)?;
    let class_names: Vec<String> = match classes {
        Some(names) => names.to_vec(),
        None => listed.iter().map(|(name, _)| name.clone()).collect(),
    };
    let mut labels = Vec::new();
    let mut paths = Vec::new();
    let first = &listed[0].1[0];
    for (name, files) in &listed {
        let label = class_names.iter().position(|c| c == name).ok_or_else(|| {
            LoadError::new(
                &dir.join(name),
                format!(
                    "unknown class `{name}`: the model knows {}",
                    class_names.join(", ")
                ),
            )
        })?;
        labels.extend(std::iter::repeat_n(label, files.len()));
        paths.extend(files.iter().cloned());
    }
    // Every header is read, in parallel; the first bad file in order is the one reported.
    let checked: Vec<Result<(), LoadError>> = paths
        .par_iter()
        .map(|path| {
            let size = Source::File(path).dimensions()?;
            if size_policy == SizePolicy::Reject && size != (layout.width, layout.height) {
                return Err(LoadError::new(
                    path,
                    format!(
                        "the image is {}×{} but {} is {}×{}; pass --image-size WxH to resize \
                     every image",
                        size.0,
                        size.1,
                        first.display(),
                        layout.width,
                        layout.height
                    ),
                ));
            }
            Ok(())
        })
        .collect();
    checked.into_iter().collect::<Result<(), _>>()?;
    let ids = paths
        .iter()
        .map(|path| ExampleId::File(path.strip_prefix(dir).unwrap_or(path).to_path_buf()))
        .collect();
    Ok(ImageSet {
        layout,
        pixels: Pixels::Files(paths),
        labels,
        class_names,
        ids,
    })
}

/// The layout a folder's images take: the options, completed from its first image.
pub fn infer_layout(dir: &Path, options: FolderOptions) -> Result<ImageLayout, LoadError> {
    let listed = list_classes(dir)?;
    first_layout(&listed[0].1[0], options)
}

/// A folder's `train/` and `test/` sub-folders, when it has both.
pub fn predefined_split(dir: &Path) -> Option<(PathBuf, PathBuf)> {
    let (train, test) = (dir.join("train"), dir.join("test"));
    (train.is_dir() && test.is_dir()).then_some((train, test))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_png(path: &Path, width: u32, height: u32, rgb: [u8; 3]) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        image::RgbImage::from_pixel(width, height, image::Rgb(rgb))
            .save(path)
            .unwrap();
    }

    fn gray(width: usize, height: usize) -> ImageLayout {
        ImageLayout {
            color: Color::Gray,
            height,
            width,
        }
    }

    #[test]
    fn reads_classes_in_sorted_order_and_ignores_other_files() {
        let dir = tempfile::tempdir().unwrap();
        write_png(&dir.path().join("zebra/1.png"), 4, 3, [255, 255, 255]);
        write_png(&dir.path().join("ant/1.png"), 4, 3, [0, 0, 0]);
        write_png(&dir.path().join("ant/2.PNG"), 4, 3, [0, 0, 0]);
        std::fs::write(dir.path().join("ant/notes.txt"), "not an image").unwrap();
        let layout = infer_layout(dir.path(), FolderOptions::default()).unwrap();
        assert_eq!(
            layout,
            ImageLayout {
                color: Color::Rgb,
                height: 3,
                width: 4
            }
        );
        let set = load_folder(dir.path(), gray(4, 3), SizePolicy::Reject, None).unwrap();
        assert_eq!(set.class_names, ["ant", "zebra"]);
        assert_eq!(set.labels, [0, 0, 1]);
        assert_eq!(*set.image(2).unwrap(), [255; 12]);
    }

    #[test]
    fn images_are_decoded_per_batch_and_a_file_broken_after_listing_is_named() {
        let dir = tempfile::tempdir().unwrap();
        write_png(&dir.path().join("a/1.png"), 2, 2, [0, 0, 0]);
        write_png(&dir.path().join("b/1.png"), 2, 2, [255, 255, 255]);
        write_png(&dir.path().join("b/2.png"), 2, 2, [51, 51, 51]);
        let set = load_folder(dir.path(), gray(2, 2), SizePolicy::Reject, None).unwrap();
        assert!(
            matches!(set.pixels, Pixels::Files(_)),
            "nothing decoded yet"
        );
        let scaling = super::super::PixelScaling::fit(&set, true, 0).unwrap();
        // Bytes 0, 255, 51 (four pixels each): mean 102, as a fraction of 255.
        let mean = scaling.normalization.as_ref().unwrap().mean[0];
        assert!((mean - 0.4).abs() < 1e-6, "{mean}");
        let examples = scaling.examples(set);
        let device = zoo_models::backend::BackendKind::default_for_build()
            .device()
            .unwrap();
        let batch = examples.batch(&[2, 0], &device).unwrap();
        let values = batch
            .inputs
            .into_dense()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert_eq!(values.len(), 8);
        assert!(values[..4].iter().all(|&v| v == values[0]) && values[0] > values[4]);

        // b/1.png was never decoded; b/2.png was, and is kept (the set is small).
        std::fs::write(dir.path().join("b/1.png"), b"no longer a png").unwrap();
        std::fs::write(dir.path().join("b/2.png"), b"no longer a png").unwrap();
        assert!(examples.batch(&[2], &device).is_ok());
        let err = examples.batch(&[0, 1], &device).unwrap_err().to_string();
        assert!(
            err.contains("b/1.png") && err.contains("not a readable image"),
            "{err}"
        );
    }

    #[test]
    fn rgb_images_become_channel_planes_and_are_resized_on_request() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("red.png");
        write_png(&path, 5, 7, [200, 10, 0]);
        let layout = ImageLayout {
            color: Color::Rgb,
            height: 2,
            width: 2,
        };
        let pixels = decode_image(&path, layout).unwrap();
        assert_eq!(pixels, [200, 200, 200, 200, 10, 10, 10, 10, 0, 0, 0, 0]);
    }

    #[test]
    fn bad_folders_name_the_culprit() {
        let dir = tempfile::tempdir().unwrap();
        write_png(&dir.path().join("a/1.png"), 4, 4, [0, 0, 0]);
        write_png(&dir.path().join("b/1.png"), 5, 4, [0, 0, 0]);
        let err = load_folder(dir.path(), gray(4, 4), SizePolicy::Reject, None).unwrap_err();
        assert!(err.path.ends_with("b/1.png"), "{err}");
        assert!(err.message.contains("--image-size"), "{err}");
        let resized = load_folder(dir.path(), gray(4, 4), SizePolicy::Resize, None).unwrap();
        assert_eq!(resized.len(), 2);

        std::fs::write(dir.path().join("b/broken.png"), b"not a png").unwrap();
        let err = load_folder(dir.path(), gray(4, 4), SizePolicy::Resize, None).unwrap_err();
        assert!(
            err.path.ends_with("b/broken.png") && err.message.contains("not a readable image"),
            "{err}"
        );

        std::fs::create_dir(dir.path().join("c")).unwrap();
        let err = infer_layout(dir.path(), FolderOptions::default()).unwrap_err();
        assert!(
            err.path.ends_with("c") && err.message.contains("no PNG or JPEG"),
            "{err}"
        );

        let empty = tempfile::tempdir().unwrap();
        let err = infer_layout(empty.path(), FolderOptions::default()).unwrap_err();
        assert!(err.message.contains("no class sub-folders"), "{err}");

        let known = ["a".to_string()];
        std::fs::remove_dir(dir.path().join("c")).unwrap();
        std::fs::remove_file(dir.path().join("b/broken.png")).unwrap();
        let err =
            load_folder(dir.path(), gray(4, 4), SizePolicy::Resize, Some(&known)).unwrap_err();
        assert!(err.message.contains("unknown class `b`"), "{err}");
    }
}
