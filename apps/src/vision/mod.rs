//! Images in, examples out: MNIST-style IDX files and folders of PNG/JPEG files, turned into
//! the flat channels × height × width rows every model of the zoo takes.

pub mod folder;
pub mod idx;

use std::path::Path;

use serde::{Deserialize, Serialize};
use zoo_models::data::{Examples, Features, TargetData};

use crate::error::LoadError;
use crate::split::ExampleId;

/// Grayscale (one channel) or RGB (three).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Color {
    Gray,
    Rgb,
}

impl Color {
    pub fn channels(self) -> usize {
        match self {
            Color::Gray => 1,
            Color::Rgb => 3,
        }
    }
}

/// The shape every image is brought to before it reaches a model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageLayout {
    pub color: Color,
    pub height: usize,
    pub width: usize,
}

impl ImageLayout {
    pub fn channels(&self) -> usize {
        self.color.channels()
    }

    /// Values per image: channels × height × width.
    pub fn len(&self) -> usize {
        self.channels() * self.height * self.width
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Labelled images, each stored as row-major channels × height × width bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageSet {
    pub layout: ImageLayout,
    pub pixels: Vec<u8>,
    pub labels: Vec<usize>,
    pub class_names: Vec<String>,
    /// Where each image came from: its index in an IDX file, or its file.
    pub ids: Vec<ExampleId>,
}

impl ImageSet {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.layout.len();
        &self.pixels[i * n..(i + 1) * n]
    }

    pub fn select(&self, indices: &[usize]) -> ImageSet {
        ImageSet {
            layout: self.layout,
            pixels: indices
                .iter()
                .flat_map(|&i| self.image(i))
                .copied()
                .collect(),
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            class_names: self.class_names.clone(),
            ids: indices.iter().map(|&i| self.ids[i].clone()).collect(),
        }
    }

    pub fn targets(&self) -> TargetData {
        TargetData::Classes {
            labels: self.labels.clone(),
            n_classes: self.class_names.len(),
        }
    }

    /// A stratified, seeded train/test split. Returns `(train, test)`.
    pub fn train_test_split(
        &self,
        test_fraction: f64,
        seed: u64,
        path: &Path,
    ) -> Result<(ImageSet, ImageSet), LoadError> {
        let (train, test) = self
            .targets()
            .train_test_indices(test_fraction, seed)
            .map_err(|e| LoadError::new(path, e.to_string()))?;
        Ok((self.select(&train), self.select(&test)))
    }
}

/// Per-channel mean and standard deviation of the scaled pixels, as torchvision's
/// `Normalize(mean, std)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Normalization {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

/// How bytes become model inputs: `(byte × scale − mean[c]) / std[c]`. Saved in `model.json`
/// so that `evaluate` and `predict` see images exactly as training did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PixelScaling {
    pub layout: ImageLayout,
    /// 1/255: bytes to [0, 1].
    pub scale: f32,
    /// Statistics of the training images, when normalisation was asked for.
    pub normalization: Option<Normalization>,
}

impl PixelScaling {
    /// Scaling to [0, 1], and normalisation with the statistics of `train` when `normalize`.
    pub fn fit(train: &ImageSet, normalize: bool) -> Self {
        let scale: f32 = 1.0 / 255.0;
        let normalization = normalize.then(|| {
            let plane = train.layout.height * train.layout.width;
            let (mean, std) = (0..train.layout.channels())
                .map(|c| {
                    let channel = |i: usize| &train.image(i)[c * plane..(c + 1) * plane];
                    let n = (train.len() * plane) as f64;
                    let sum: f64 = (0..train.len()).flat_map(channel).map(|&b| b as f64).sum();
                    let mean = sum / n * scale as f64;
                    let var = (0..train.len())
                        .flat_map(channel)
                        .map(|&b| (b as f64 * scale as f64 - mean).powi(2))
                        .sum::<f64>()
                        / n;
                    // A blank channel would divide by zero; leave it unscaled instead.
                    let std = if var > 1e-12 { var.sqrt() } else { 1.0 };
                    (mean as f32, std as f32)
                })
                .unzip();
            Normalization { mean, std }
        });
        Self {
            layout: train.layout,
            scale,
            normalization,
        }
    }

    /// Model inputs for images laid out as `self.layout`.
    pub fn features(&self, pixels: &[u8]) -> Features {
        let plane = self.layout.height * self.layout.width;
        let values = pixels
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                let v = b as f32 * self.scale;
                match &self.normalization {
                    Some(n) => {
                        let c = (i / plane) % self.layout.channels();
                        (v - n.mean[c]) / n.std[c]
                    }
                    None => v,
                }
            })
            .collect();
        Features::new(values, self.layout.len()).expect("pixels are finite and whole images")
    }

    pub fn examples(&self, images: &ImageSet) -> Examples {
        Examples::new(self.features(&images.pixels), images.targets())
            .expect("an image set has one label per image, each below its class count")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &[f32], b: &[f32]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(a, b)| (a - b).abs() < 1e-6)
    }

    fn rgb_pair() -> ImageSet {
        // Two 1×2 RGB images; channel planes R R, G G, B B.
        ImageSet {
            layout: ImageLayout {
                color: Color::Rgb,
                height: 1,
                width: 2,
            },
            pixels: vec![0, 255, 51, 51, 0, 0, 255, 0, 51, 51, 0, 0],
            labels: vec![0, 1],
            class_names: vec!["a".into(), "b".into()],
            ids: crate::split::rows(2),
        }
    }

    #[test]
    fn scaling_maps_bytes_to_unit_range() {
        let set = rgb_pair();
        let scaling = PixelScaling::fit(&set, false);
        let features = scaling.features(&set.pixels);
        assert_eq!(features.n_features(), 6);
        assert!(
            close(features.row(0), &[0.0, 1.0, 0.2, 0.2, 0.0, 0.0]),
            "{features:?}"
        );
    }

    #[test]
    fn normalisation_uses_per_channel_statistics() {
        let set = rgb_pair();
        let scaling = PixelScaling::fit(&set, true);
        let n = scaling.normalization.clone().unwrap();
        // Red holds 0, 1, 1, 0 → mean 0.5, std 0.5; green is constant 0.2; blue is all zero.
        assert!(close(&n.mean, &[0.5, 0.2, 0.0]), "{:?}", n.mean);
        assert!((n.std[0] - 0.5).abs() < 1e-6);
        assert_eq!(
            &n.std[1..],
            [1.0, 1.0],
            "constant channels are left unscaled"
        );
        let features = scaling.features(&set.pixels);
        assert!(
            close(features.row(0), &[-1.0, 1.0, 0.0, 0.0, 0.0, 0.0]),
            "{:?}",
            features.row(0)
        );
    }

    #[test]
    fn split_keeps_whole_images_with_their_labels() {
        let mut set = rgb_pair();
        set.pixels = set.pixels.repeat(5);
        set.labels = [0, 1].repeat(5);
        set.ids = crate::split::rows(10);
        let (train, test) = set.train_test_split(0.2, 1, Path::new("x")).unwrap();
        assert_eq!((train.len(), test.len()), (8, 2));
        for part in [&train, &test] {
            for i in 0..part.len() {
                assert_eq!(part.image(i), set.image(part.labels[i]));
                let crate::split::ExampleId::Row(row) = part.ids[i] else {
                    unreachable!()
                };
                assert_eq!(part.labels[i], set.labels[row], "ids follow their images");
            }
        }
    }
}
