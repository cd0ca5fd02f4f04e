//! The image classifier on a folder mixing the kinds of PNG and JPEG files users have.

use std::path::Path;

use clap::Parser;
use rand::Rng;
use zoo_apps::app::train;
use zoo_apps::image_classifier::{Cli, Command};
use zoo_apps::test_metrics::TestMetrics;
use zoo_tests::{exclusive_rng, rng};

use crate::read_json;

const SIZE: u32 = 12;

/// A bright bar across a dark, noisy square: horizontal for class 0, vertical for class 1, a
/// diagonal for class 2; as gray levels.
fn pattern(class: usize, rng: &mut impl Rng) -> Vec<u8> {
    let offset = rng.random_range(2..SIZE - 2);
    (0..SIZE * SIZE)
        .map(|i| {
            let (x, y) = (i % SIZE, i / SIZE);
            let on = match class {
                0 => y.abs_diff(offset) <= 1,
                1 => x.abs_diff(offset) <= 1,
                _ => x.abs_diff(y) <= 1,
            };
            if on {
                rng.random_range(200..=255)
            } else {
                rng.random_range(0..50)
            }
        })
        .collect()
}

/// An 8-bit palette PNG: 256 gray entries, one index per pixel.
fn write_palette_png(path: &Path, gray: &[u8]) {
    let file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut encoder = png::Encoder::new(file, SIZE, SIZE);
    encoder.set_color(png::ColorType::Indexed);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_palette((0..=255u8).flat_map(|v| [v, v, v]).collect::<Vec<u8>>());
    let mut writer = encoder.write_header().unwrap();
    writer.write_image_data(gray).unwrap();
}

/// The i-th image in the i-th of five encodings: RGBA PNG, 16-bit gray PNG, palette PNG,
/// grayscale JPEG, 16-bit RGB PNG.
fn write_image(dir: &Path, i: usize, gray: Vec<u8>) {
    let name = |ext: &str| dir.join(format!("{i:03}.{ext}"));
    match i % 5 {
        0 => image::RgbaImage::from_fn(SIZE, SIZE, |x, y| {
            let v = gray[(y * SIZE + x) as usize];
            image::Rgba([v, v, v, 255])
        })
        .save(name("png"))
        .unwrap(),
        1 => image::ImageBuffer::<image::Luma<u16>, _>::from_fn(SIZE, SIZE, |x, y| {
            image::Luma([gray[(y * SIZE + x) as usize] as u16 * 257])
        })
        .save(name("png"))
        .unwrap(),
        2 => write_palette_png(&name("png"), &gray),
        3 => image::GrayImage::from_raw(SIZE, SIZE, gray)
            .unwrap()
            .save(name("jpg"))
            .unwrap(),
        _ => image::ImageBuffer::<image::Rgb<u16>, _>::from_fn(SIZE, SIZE, |x, y| {
            let v = gray[(y * SIZE + x) as usize] as u16 * 257;
            image::Rgb([v, v, v])
        })
        .save(name("png"))
        .unwrap(),
    }
}

#[test]
fn a_folder_mixing_png_kinds_and_grayscale_jpegs_trains() {
    let data = tempfile::tempdir().unwrap();
    let mut rng = rng(7);
    // Sorted class folders, the last with two images only.
    let classes = [
        ("bar – horizontal", 60),
        ("bär vertical", 60),
        ("diagonal", 2),
    ];
    for (class, (name, count)) in classes.iter().enumerate() {
        let dir = data.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..*count {
            write_image(&dir, i, pattern(class, &mut rng));
        }
    }
    let out = tempfile::tempdir().unwrap();
    let metrics = {
        let Command::Train(command) = Cli::parse_from([
            "image-classifier",
            "train",
            "--model",
            "logistic",
            "--format",
            "folder",
            "--data",
            data.path().to_str().unwrap(),
            "--quiet",
            "--out",
            out.path().to_str().unwrap(),
        ])
        .command
        else {
            unreachable!()
        };
        let _rng = exclusive_rng();
        train(&command).unwrap().0.test
    };
    let TestMetrics::Classification {
        accuracy,
        per_class,
        ..
    } = &metrics
    else {
        unreachable!()
    };
    assert!(*accuracy >= 0.9, "{per_class:?}");
    assert_eq!(per_class.len(), 3);
    // Every encoding is among the images that trained.
    let split = read_json(&out.path().join("split.json"));
    let trained: Vec<String> = split["train"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_string())
        .collect();
    assert!(trained.iter().any(|f| f.ends_with(".jpg")));
    assert!(
        trained.iter().any(|f| f.starts_with("diagonal/")),
        "{trained:?}"
    );
}
