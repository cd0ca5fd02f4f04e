//! A folder of images with one sub-folder per class (`DIR/<class>/*.png`), as torchvision's
//! `ImageFolder` and Keras' `image_dataset_from_directory` read it. Classes are the sub-folder
//! names in sorted order; PNG and JPEG files are read, other files ignored.

use std::path::{Path, PathBuf};

use image::DynamicImage;
use image::imageops::FilterType;

use super::{Color, ImageLayout, ImageSet};
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

fn open(path: &Path) -> Result<DynamicImage, LoadError> {
    image::ImageReader::open(path)
        .map_err(|e| LoadError::new(path, format!("cannot read: {e}")))?
        .with_guessed_format()
        .map_err(|e| LoadError::new(path, format!("cannot read: {e}")))?
        .decode()
        .map_err(|e| LoadError::new(path, format!("not a readable image: {e}")))
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
    match layout.color {
        Color::Gray => resize(image).to_luma8().into_raw(),
        Color::Rgb => {
            let interleaved = resize(image).to_rgb8().into_raw();
            (0..3)
                .flat_map(|c| interleaved.iter().skip(c).step_by(3).copied())
                .collect()
        }
    }
}

/// Reads one image file into `layout`, resizing it when its size differs.
pub fn decode_image(path: &Path, layout: ImageLayout) -> Result<Vec<u8>, LoadError> {
    Ok(to_layout(open(path)?, layout))
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
    let image = open(path)?;
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

/// Reads a class-per-folder image set. `classes` fixes the class names and their order (a
/// folder not among them is an error); otherwise they are the sorted sub-folder names.
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
    let mut set = ImageSet {
        layout,
        pixels: Vec::new(),
        labels: Vec::new(),
        class_names,
        ids: Vec::new(),
    };
    let first = &listed[0].1[0];
    for (name, files) in &listed {
        let label = set
            .class_names
            .iter()
            .position(|c| c == name)
            .ok_or_else(|| {
                LoadError::new(
                    &dir.join(name),
                    format!(
                        "unknown class `{name}`: the model knows {}",
                        set.class_names.join(", ")
                    ),
                )
            })?;
        for path in files {
            let image = open(path)?;
            let size = (image.width() as usize, image.height() as usize);
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
            set.pixels.extend(to_layout(image, layout));
            set.labels.push(label);
            let relative = path.strip_prefix(dir).unwrap_or(path);
            set.ids.push(ExampleId::File(relative.to_path_buf()));
        }
    }
    Ok(set)
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
        assert_eq!(set.image(2), [255; 12]);
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
