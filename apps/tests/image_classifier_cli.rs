//! The `image-classifier` binary on bad input: a clear message naming the file, a non-zero
//! exit status, never a panic.

use std::path::Path;
use std::process::Command;

fn idx(magic: u32, dims: &[u32], values: &[u8]) -> Vec<u8> {
    let mut bytes = magic.to_be_bytes().to_vec();
    dims.iter().for_each(|d| bytes.extend(d.to_be_bytes()));
    bytes.extend_from_slice(values);
    bytes
}

/// An MNIST-style folder of 4 images of 2×2 pixels, training and test parts alike.
fn idx_folder(dir: &Path) {
    for prefix in ["train", "t10k"] {
        let images = idx(0x0803, &[4, 2, 2], &[7; 16]);
        std::fs::write(dir.join(format!("{prefix}-images-idx3-ubyte")), images).unwrap();
        let labels = idx(0x0801, &[4], &[0, 1, 0, 1]);
        std::fs::write(dir.join(format!("{prefix}-labels-idx1-ubyte")), labels).unwrap();
    }
}

fn png(path: &Path, width: u32, height: u32) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    image::GrayImage::new(width, height).save(path).unwrap();
}

/// Runs the binary and returns its standard error, asserting that it failed cleanly.
fn fails(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_image-classifier"))
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
    stderr
}

fn assert_names(stderr: &str, path: &Path, phrase: &str) {
    assert!(
        stderr.contains(&path.display().to_string()),
        "should name {}: {stderr}",
        path.display()
    );
    assert!(stderr.contains(phrase), "should say {phrase:?}: {stderr}");
}

#[test]
fn bad_idx_files_are_reported_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let train = ["train", "--data", data, "--model", "logistic", "--quiet"];
    let images = dir.path().join("train-images-idx3-ubyte");
    let labels = dir.path().join("train-labels-idx1-ubyte");

    assert_names(&fails(&train), dir.path(), "no train-images-idx3-ubyte");

    idx_folder(dir.path());
    std::fs::write(&images, idx(0x0801, &[4], &[0; 4])).unwrap();
    assert_names(
        &fails(&train),
        &images,
        "wrong magic number 0x00000801, expected 0x00000803",
    );

    std::fs::write(&images, &idx(0x0803, &[4, 2, 2], &[7; 16])[..25]).unwrap();
    assert_names(&fails(&train), &images, "truncated");

    std::fs::write(&images, idx(0x0803, &[4, 2, 2], &[7; 16])).unwrap();
    std::fs::write(&labels, idx(0x0801, &[3], &[0, 1, 0])).unwrap();
    assert_names(&fails(&train), &labels, "3 labels for the 4 images");
}

#[test]
fn bad_image_folders_are_reported_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let train = [
        "train", "--data", data, "--format", "folder", "--model", "mlp", "--quiet",
    ];
    png(&dir.path().join("a/1.png"), 8, 8);
    png(&dir.path().join("b/1.png"), 8, 8);

    let broken = dir.path().join("b/2.png");
    std::fs::write(&broken, b"\x89PNG but not really").unwrap();
    assert_names(&fails(&train), &broken, "not a readable image");
    std::fs::remove_file(&broken).unwrap();

    png(&dir.path().join("b/2.png"), 9, 8);
    assert_names(
        &fails(&train),
        &dir.path().join("b/2.png"),
        "pass --image-size",
    );
    std::fs::remove_file(dir.path().join("b/2.png")).unwrap();

    std::fs::create_dir(dir.path().join("c")).unwrap();
    assert_names(
        &fails(&train),
        &dir.path().join("c"),
        "no PNG or JPEG images",
    );
}

/// A PNG file whose header claims `width` × `height` gray pixels, with an empty pixel stream.
fn png_claiming(path: &Path, width: u32, height: u32) {
    let chunk = |kind: &[u8], data: &[u8]| {
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        let mut bytes = (data.len() as u32).to_be_bytes().to_vec();
        bytes.extend_from_slice(kind);
        bytes.extend_from_slice(data);
        bytes.extend(crc.sum().to_be_bytes());
        bytes
    };
    let mut header = width.to_be_bytes().to_vec();
    header.extend(height.to_be_bytes());
    header.extend([8, 0, 0, 0, 0]); // 8-bit gray, no interlace
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend(chunk(b"IHDR", &header));
    let empty = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    bytes.extend(chunk(b"IDAT", &empty.finish().unwrap()));
    bytes.extend(chunk(b"IEND", b""));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn an_image_claiming_ten_billion_pixels_is_refused_before_it_is_allocated() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let huge = dir.path().join("a/1.png");
    png_claiming(&huge, 100_000, 100_000);
    png(&dir.path().join("b/1.png"), 8, 8);
    // First in the folder, it would set the layout; resized, it would be decoded per batch.
    for size in [None, Some("8x8")] {
        let mut train = vec![
            "train", "--data", data, "--format", "folder", "--model", "mlp", "--quiet",
        ];
        train.extend(size.map(|s| ["--image-size", s]).into_iter().flatten());
        assert_names(&fails(&train), &huge, "not a readable image");
    }
    // Within the `image` crate's memory limit, but 65,055 pixels wide: refused when listed.
    png_claiming(&huge, 65_055, 2_048);
    let train = [
        "train",
        "--data",
        data,
        "--format",
        "folder",
        "--image-size",
        "8x8",
        "--quiet",
    ];
    assert_names(
        &fails(&train),
        &huge,
        "65055×2048 pixels, and at most 16384 a side",
    );
}

#[test]
fn missing_models_and_unknown_flags_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let model_dir = dir.path().join("nothing here");
    let stderr = fails(&["evaluate", "--model-dir", model_dir.to_str().unwrap()]);
    assert_names(&stderr, &model_dir.join("model.json"), "No such file");

    let output = Command::new(env!("CARGO_BIN_EXE_image-classifier"))
        .args(["train", "--model", "resnet"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "clap's usage error");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("possible values: logistic, mlp, cnn")
    );
}
