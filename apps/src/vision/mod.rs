//! Images in, examples out: MNIST-style IDX files and folders of PNG/JPEG files, turned into
//! the flat channels × height × width rows every model of the zoo takes.
//!
//! Examples are produced per batch ([`ImageRows`]): IDX images stay in memory as bytes and
//! become `f32` only in the batch that needs them; a folder's images stay on disk, and the data
//! loader's worker decodes (and resizes) a batch's files while the model trains on the
//! previous one. Memory then holds the file list and labels, not the pixels.

pub mod folder;
pub mod idx;
pub mod preprocessing;

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use zoo_models::data::{DataError, Inputs, TargetData};
use zoo_models::dataset::{ExampleSet, FeatureSource};
use zoo_models::prelude::Device;

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

/// Where the pixels of an image set are.
#[derive(Clone, Debug, PartialEq)]
pub enum Pixels {
    /// Every image's row-major channels × height × width bytes, one image after another.
    Bytes(Vec<u8>),
    /// One file per image, decoded into the layout (resized when its size differs) when asked.
    Files(Vec<PathBuf>),
}

/// Labelled images, in memory or on disk.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageSet {
    pub layout: ImageLayout,
    pub pixels: Pixels,
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

    /// Image `i` as channels × height × width bytes: borrowed, or decoded from its file.
    pub fn image(&self, i: usize) -> Result<Cow<'_, [u8]>, LoadError> {
        match &self.pixels {
            Pixels::Bytes(bytes) => {
                let n = self.layout.len();
                Ok(Cow::Borrowed(&bytes[i * n..(i + 1) * n]))
            }
            Pixels::Files(paths) => folder::decode_image(&paths[i], self.layout).map(Cow::Owned),
        }
    }

    pub fn select(&self, indices: &[usize]) -> ImageSet {
        let pixels = match &self.pixels {
            Pixels::Bytes(bytes) => {
                let n = self.layout.len();
                Pixels::Bytes(
                    indices
                        .iter()
                        .flat_map(|&i| &bytes[i * n..(i + 1) * n])
                        .copied()
                        .collect(),
                )
            }
            Pixels::Files(paths) => {
                Pixels::Files(indices.iter().map(|&i| paths[i].clone()).collect())
            }
        };
        ImageSet {
            layout: self.layout,
            pixels,
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

/// Normalisation statistics of image files come from at most this many of them: all of them up
/// to this size, else a seeded random sample (a sample of 10,000 pins a channel's mean and
/// standard deviation to about 1e-3 of the pixel range). Images in memory are all counted.
pub const NORMALIZATION_SAMPLE: usize = 10_000;

impl PixelScaling {
    /// Scaling to [0, 1], and normalisation with the statistics of `train` when `normalize`:
    /// of every training image, or of a `seed`ed sample of [`NORMALIZATION_SAMPLE`] image files.
    pub fn fit(train: &ImageSet, normalize: bool, seed: u64) -> Result<Self, LoadError> {
        let scale: f32 = 1.0 / 255.0;
        let normalization = if normalize {
            Some(Self::statistics(train, scale, seed)?)
        } else {
            None
        };
        Ok(Self {
            layout: train.layout,
            scale,
            normalization,
        })
    }

    fn statistics(train: &ImageSet, scale: f32, seed: u64) -> Result<Normalization, LoadError> {
        use rand::SeedableRng;
        use rand::seq::index;
        let in_memory = matches!(train.pixels, Pixels::Bytes(_));
        let sample: Vec<usize> = if in_memory || train.len() <= NORMALIZATION_SAMPLE {
            (0..train.len()).collect()
        } else {
            let mut rng = rand_chacha::ChaCha12Rng::seed_from_u64(seed);
            let mut picked = index::sample(&mut rng, train.len(), NORMALIZATION_SAMPLE).into_vec();
            picked.sort_unstable();
            picked
        };
        let channels = train.layout.channels();
        let plane = train.layout.height * train.layout.width;
        // Sums of bytes and of their squares are exact integers, so the statistics do not
        // depend on the order the images are summed in (nor on the number of threads).
        let sums = sample
            .par_iter()
            .map(|&i| {
                let image = train.image(i)?;
                Ok(image
                    .chunks(plane)
                    .map(|channel| {
                        channel.iter().fold((0u64, 0u64), |(s, q), &b| {
                            (s + b as u64, q + (b as u64) * (b as u64))
                        })
                    })
                    .collect::<Vec<_>>())
            })
            .try_reduce(
                || vec![(0, 0); channels],
                |a, b| {
                    Ok(a.iter()
                        .zip(&b)
                        .map(|(x, y)| (x.0 + y.0, x.1 + y.1))
                        .collect())
                },
            )?;
        let n = (sample.len() * plane) as f64;
        let scale = scale as f64;
        let (mean, std) = sums
            .iter()
            .map(|&(sum, squares)| {
                let mean = sum as f64 / n;
                let var = (squares as f64 / n - mean * mean).max(0.0) * scale * scale;
                // A blank channel would divide by zero; leave it unscaled instead.
                let std = if var > 1e-12 { var.sqrt() } else { 1.0 };
                ((mean * scale) as f32, std as f32)
            })
            .unzip();
        Ok(Normalization { mean, std })
    }

    /// The model input of every byte value in every channel: `table[c][byte]`.
    fn table(&self) -> Vec<[f32; 256]> {
        (0..self.layout.channels())
            .map(|c| {
                std::array::from_fn(|byte| {
                    let v = byte as f32 * self.scale;
                    match &self.normalization {
                        Some(n) => (v - n.mean[c]) / n.std[c],
                        None => v,
                    }
                })
            })
            .collect()
    }

    /// Appends the model inputs of images (bytes laid out as `self.layout`, one image after
    /// another) to `out`, through `table` ([`PixelScaling::table`]).
    fn scale_into(&self, table: &[[f32; 256]], images: &[u8], out: &mut Vec<f32>) {
        let plane = self.layout.height * self.layout.width;
        for (i, channel) in images.chunks(plane).enumerate() {
            let table = &table[i % table.len()];
            out.extend(channel.iter().map(|&b| table[b as usize]));
        }
    }

    /// The model inputs of images laid out as `self.layout`, one after another.
    pub fn inputs(&self, pixels: &[u8]) -> Vec<f32> {
        let mut values = Vec::with_capacity(pixels.len());
        self.scale_into(&self.table(), pixels, &mut values);
        values
    }

    /// The images as examples whose inputs are produced per batch.
    pub fn examples(&self, images: ImageSet) -> ExampleSet {
        let targets = images.targets();
        let decoded = match images.pixels {
            Pixels::Files(_) if images.len() * images.layout.len() <= DECODED_CACHE_BYTES => {
                Some((0..images.len()).map(|_| OnceLock::new()).collect())
            }
            _ => None,
        };
        ExampleSet::new(
            Arc::new(ImageRows {
                images,
                table: self.table(),
                scaling: self.clone(),
                decoded,
            }),
            targets,
        )
        .expect("an image set has one label per image, each below its class count")
    }
}

/// Image files whose decoded bytes take at most this much (1 GiB) keep them once decoded, so
/// only the first epoch decodes: on a 2-core machine decoding a batch of PNGs takes CPU time the
/// model would use (README, "Data larger than memory"). Larger sets decode every epoch and
/// hold only the file list.
pub const DECODED_CACHE_BYTES: usize = 1 << 30;

/// Images whose model inputs are made when a batch asks for them: decoded from their files (in
/// parallel) or copied from bytes, then scaled.
pub struct ImageRows {
    images: ImageSet,
    scaling: PixelScaling,
    /// [`PixelScaling::table`], made once.
    table: Vec<[f32; 256]>,
    /// Each file's bytes once decoded, when the whole set fits [`DECODED_CACHE_BYTES`].
    decoded: Option<Vec<OnceLock<Box<[u8]>>>>,
}

impl ImageRows {
    fn image(&self, i: usize) -> Result<Cow<'_, [u8]>, LoadError> {
        let Some(decoded) = &self.decoded else {
            return self.images.image(i);
        };
        if let Some(bytes) = decoded[i].get() {
            return Ok(Cow::Borrowed(bytes));
        }
        let bytes = self.images.image(i)?.into_owned().into_boxed_slice();
        Ok(Cow::Borrowed(decoded[i].get_or_init(|| bytes)))
    }
}

impl FeatureSource for ImageRows {
    fn len(&self) -> usize {
        self.images.len()
    }

    fn n_features(&self) -> usize {
        self.images.layout.len()
    }

    fn device_bytes(&self) -> Option<usize> {
        Some(self.len() * self.n_features() * size_of::<f32>())
    }

    fn inputs(&self, indices: &[usize], device: &Device) -> Result<Inputs, DataError> {
        // Files are decoded in parallel; bytes in memory are only borrowed.
        let images: Result<Vec<Cow<'_, [u8]>>, LoadError> = match self.images.pixels {
            Pixels::Files(_) => indices.par_iter().map(|&i| self.image(i)).collect(),
            Pixels::Bytes(_) => indices.iter().map(|&i| self.image(i)).collect(),
        };
        let images = images.map_err(|e| DataError::Source(e.to_string()))?;
        let width = self.n_features();
        let mut values = Vec::with_capacity(indices.len() * width);
        images
            .iter()
            .for_each(|image| self.scaling.scale_into(&self.table, image, &mut values));
        Ok(Inputs::dense(values, width, device))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &[f32], b: &[f32]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(a, b)| (a - b).abs() < 1e-6)
    }

    fn bytes(set: &ImageSet) -> Vec<u8> {
        match &set.pixels {
            Pixels::Bytes(bytes) => bytes.clone(),
            Pixels::Files(_) => unreachable!("in memory"),
        }
    }

    fn rgb_pair() -> ImageSet {
        // Two 1×2 RGB images; channel planes R R, G G, B B.
        ImageSet {
            layout: ImageLayout {
                color: Color::Rgb,
                height: 1,
                width: 2,
            },
            pixels: Pixels::Bytes(vec![0, 255, 51, 51, 0, 0, 255, 0, 51, 51, 0, 0]),
            labels: vec![0, 1],
            class_names: vec!["a".into(), "b".into()],
            ids: crate::split::rows(2),
        }
    }

    #[test]
    fn scaling_maps_bytes_to_unit_range() {
        let set = rgb_pair();
        let scaling = PixelScaling::fit(&set, false, 0).unwrap();
        let inputs = scaling.inputs(&bytes(&set));
        assert_eq!(inputs.len(), 12);
        assert!(
            close(&inputs[..6], &[0.0, 1.0, 0.2, 0.2, 0.0, 0.0]),
            "{inputs:?}"
        );
    }

    #[test]
    fn normalisation_uses_per_channel_statistics() {
        let set = rgb_pair();
        let scaling = PixelScaling::fit(&set, true, 0).unwrap();
        let n = scaling.normalization.clone().unwrap();
        // Red holds 0, 1, 1, 0 → mean 0.5, std 0.5; green is constant 0.2; blue is all zero.
        assert!(close(&n.mean, &[0.5, 0.2, 0.0]), "{:?}", n.mean);
        assert!((n.std[0] - 0.5).abs() < 1e-6);
        assert_eq!(
            &n.std[1..],
            [1.0, 1.0],
            "constant channels are left unscaled"
        );
        let inputs = scaling.inputs(&bytes(&set));
        assert!(
            close(&inputs[..6], &[-1.0, 1.0, 0.0, 0.0, 0.0, 0.0]),
            "{inputs:?}"
        );
    }

    #[test]
    fn split_keeps_whole_images_with_their_labels() {
        let mut set = rgb_pair();
        set.pixels = Pixels::Bytes(bytes(&set).repeat(5));
        set.labels = [0, 1].repeat(5);
        set.ids = crate::split::rows(10);
        let (train, test) = set.train_test_split(0.2, 1, Path::new("x")).unwrap();
        assert_eq!((train.len(), test.len()), (8, 2));
        for part in [&train, &test] {
            for i in 0..part.len() {
                assert_eq!(part.image(i).unwrap(), set.image(part.labels[i]).unwrap());
                let crate::split::ExampleId::Row(row) = part.ids[i] else {
                    unreachable!()
                };
                assert_eq!(part.labels[i], set.labels[row], "ids follow their images");
            }
        }
    }
}
