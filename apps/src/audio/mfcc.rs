//! Mel-frequency cepstral coefficients, computed as `python_speech_features.mfcc` computes them
//! (and tested against it): pre-emphasis, frames padded with zeros at the end, a Hamming
//! window, the power spectrum `|FFT|² / nfft`, a triangular mel filterbank on FFT bins, the log
//! of the filter energies and an orthonormal DCT-II, of which the first coefficients are kept.

use std::f64::consts::PI;

use serde::{Deserialize, Serialize};

/// The MFCC parameters; saved in `model.json` so that `predict` computes the same features.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MfccConfig {
    /// Audio is resampled to this rate first.
    pub sample_rate: u32,
    pub window_ms: f64,
    pub hop_ms: f64,
    pub n_filters: usize,
    pub n_mfcc: usize,
    pub pre_emphasis: f32,
    /// Append first-order deltas (regression over ±2 frames), doubling the coefficients.
    pub deltas: bool,
}

impl Default for MfccConfig {
    fn default() -> Self {
        Self {
            sample_rate: 8000,
            window_ms: 25.0,
            hop_ms: 10.0,
            n_filters: 26,
            n_mfcc: 13,
            pre_emphasis: 0.97,
            deltas: false,
        }
    }
}

impl MfccConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.n_mfcc == 0 || self.n_mfcc > self.n_filters {
            return Err(format!(
                "n-mfcc must be between 1 and the {} filters",
                self.n_filters
            ));
        }
        if !(self.hop_ms > 0.0 && self.window_ms >= self.hop_ms) {
            return Err("the window must be at least as long as the hop, and both positive".into());
        }
        if self.n_fft() > 4096 {
            return Err(format!(
                "a {} ms window is too long (at most 4096 samples)",
                self.window_ms
            ));
        }
        Ok(())
    }

    fn frame_len(&self) -> usize {
        (self.window_ms / 1000.0 * self.sample_rate as f64).round() as usize
    }

    fn hop(&self) -> usize {
        (self.hop_ms / 1000.0 * self.sample_rate as f64).round() as usize
    }

    /// FFT size: the next power of two that holds a frame.
    pub fn n_fft(&self) -> usize {
        self.frame_len().next_power_of_two().max(64)
    }

    /// Coefficients per frame (doubled by deltas).
    pub fn width(&self) -> usize {
        self.n_mfcc * if self.deltas { 2 } else { 1 }
    }
}

fn hz_to_mel(hz: f64) -> f64 {
    2595.0 * (1.0 + hz / 700.0).log10()
}

fn mel_to_hz(mel: f64) -> f64 {
    700.0 * (10f64.powf(mel / 2595.0) - 1.0)
}

/// `n_filters` triangles over the `n_fft / 2 + 1` bins, from 0 Hz to Nyquist.
fn filterbank(config: &MfccConfig) -> Vec<Vec<f64>> {
    let n_fft = config.n_fft();
    let rate = config.sample_rate as f64;
    let (low, high) = (hz_to_mel(0.0), hz_to_mel(rate / 2.0));
    let bins: Vec<usize> = (0..config.n_filters + 2)
        .map(|i| low + (high - low) * i as f64 / (config.n_filters + 1) as f64)
        .map(|mel| ((n_fft + 1) as f64 * mel_to_hz(mel) / rate).floor() as usize)
        .collect();
    (0..config.n_filters)
        .map(|j| {
            let mut filter = vec![0.0; n_fft / 2 + 1];
            let (left, centre, right) = (bins[j], bins[j + 1], bins[j + 2]);
            for (i, weight) in filter.iter_mut().enumerate().take(right).skip(left) {
                *weight = if i < centre {
                    (i - left) as f64 / (centre - left) as f64
                } else {
                    (right - i) as f64 / (right - centre) as f64
                };
            }
            filter
        })
        .collect()
}

/// `|FFT(frame)|² / n` for the `n / 2 + 1` non-negative frequencies; `frame.len()` is `n`.
fn power_spectrum(frame: &mut [f32]) -> Vec<f64> {
    use microfft::real::*;
    let n = frame.len();
    macro_rules! rfft {
        ($f:ident, $n:literal) => {
            $f(frame.try_into().expect("frame of the FFT size")).to_vec()
        };
    }
    let spectrum = match n {
        64 => rfft!(rfft_64, 64),
        128 => rfft!(rfft_128, 128),
        256 => rfft!(rfft_256, 256),
        512 => rfft!(rfft_512, 512),
        1024 => rfft!(rfft_1024, 1024),
        2048 => rfft!(rfft_2048, 2048),
        4096 => rfft!(rfft_4096, 4096),
        _ => unreachable!("MfccConfig::validate bounds the FFT size"),
    };
    // microfft packs the real Nyquist term into the imaginary part of the DC bin.
    let nyquist = spectrum[0].im as f64;
    let mut power: Vec<f64> = spectrum
        .iter()
        .map(|c| (c.re as f64).powi(2) + (c.im as f64).powi(2))
        .collect();
    power[0] = (spectrum[0].re as f64).powi(2);
    power.push(nyquist * nyquist);
    power.iter_mut().for_each(|p| *p /= n as f64);
    power
}

/// First-order deltas over ±2 frames, edges repeated (as `python_speech_features.delta`).
fn deltas(features: &[Vec<f32>]) -> Vec<Vec<f32>> {
    let n = features.len() as isize;
    let at = |t: isize| &features[t.clamp(0, n - 1) as usize];
    (0..n)
        .map(|t| {
            (0..features[0].len())
                .map(|c| {
                    (1..=2)
                        .map(|k| k as f32 * (at(t + k)[c] - at(t - k)[c]))
                        .sum::<f32>()
                        / 10.0
                })
                .collect()
        })
        .collect()
}

/// The MFCCs of `samples` (at `config.sample_rate`): one row of `config.width()` per frame.
pub fn mfcc(samples: &[f32], config: &MfccConfig) -> Vec<Vec<f32>> {
    let (frame_len, hop, n_fft) = (config.frame_len(), config.hop(), config.n_fft());
    let emphasised: Vec<f32> = std::iter::once(samples.first().copied().unwrap_or(0.0))
        .chain(
            samples
                .windows(2)
                .map(|w| w[1] - config.pre_emphasis * w[0]),
        )
        .collect();
    let n_frames = if emphasised.len() <= frame_len {
        1
    } else {
        1 + (emphasised.len() - frame_len).div_ceil(hop)
    };
    let window: Vec<f32> = (0..frame_len)
        .map(|i| (0.54 - 0.46 * (2.0 * PI * i as f64 / (frame_len - 1) as f64).cos()) as f32)
        .collect();
    let bank = filterbank(config);
    let mut coefficients: Vec<Vec<f32>> = (0..n_frames)
        .map(|f| {
            let mut frame = vec![0.0f32; n_fft];
            for (i, w) in window.iter().enumerate() {
                frame[i] = emphasised.get(f * hop + i).copied().unwrap_or(0.0) * w;
            }
            let power = power_spectrum(&mut frame);
            let log_energies: Vec<f64> = bank
                .iter()
                .map(|filter| {
                    let energy: f64 = filter.iter().zip(&power).map(|(w, p)| w * p).sum();
                    energy.max(f64::EPSILON).ln()
                })
                .collect();
            let n = log_energies.len() as f64;
            (0..config.n_mfcc)
                .map(|k| {
                    let sum: f64 = log_energies
                        .iter()
                        .enumerate()
                        .map(|(i, e)| e * (PI * k as f64 * (2 * i + 1) as f64 / (2.0 * n)).cos())
                        .sum();
                    let scale = if k == 0 {
                        (1.0 / n).sqrt()
                    } else {
                        (2.0 / n).sqrt()
                    };
                    (sum * scale) as f32
                })
                .collect()
        })
        .collect();
    if config.deltas {
        let d = deltas(&coefficients);
        coefficients
            .iter_mut()
            .zip(d)
            .for_each(|(row, d)| row.extend(d));
    }
    coefficients
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_python_speech_features_on_real_recordings() {
        // apps/tests/fixtures/mfcc_reference.py wrote these with the parameters of
        // MfccConfig::default(); it documents the exact call.
        let fixture: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/fixtures/mfcc_reference.json")).unwrap();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut worst = 0.0f64;
        for (file, expected) in fixture["features"].as_object().unwrap() {
            let audio = crate::audio::wav::read_wav(&root.join(file)).unwrap();
            let ours = mfcc(&audio.samples, &MfccConfig::default());
            let expected = expected.as_array().unwrap();
            assert_eq!(ours.len(), expected.len(), "{file}: frames");
            for (row, expected_row) in ours.iter().zip(expected) {
                for (a, b) in row.iter().zip(expected_row.as_array().unwrap()) {
                    worst = worst.max((*a as f64 - b.as_f64().unwrap()).abs());
                }
            }
        }
        // f32 samples and FFT against numpy's f64: measured 1.0e-5 at most on coefficients of
        // magnitude up to ~70; 1e-4 leaves room for another FFT's rounding, no more.
        assert!(worst < 1e-4, "largest difference {worst}");
        eprintln!("largest difference from python_speech_features: {worst:.2e}");
    }

    #[test]
    fn filters_are_triangles_that_cover_the_spectrum() {
        let config = MfccConfig::default();
        let bank = filterbank(&config);
        assert_eq!((bank.len(), bank[0].len()), (26, 129));
        for filter in &bank {
            let peak = filter.iter().cloned().fold(0.0, f64::max);
            assert!(peak > 0.99 && peak <= 1.0, "{filter:?}");
        }
    }

    #[test]
    fn frames_and_deltas_have_the_expected_shape() {
        let samples = vec![0.1f32; 8000];
        let config = MfccConfig {
            deltas: true,
            ..MfccConfig::default()
        };
        let features = mfcc(&samples, &config);
        // 1 + ceil((8000 - 200) / 80) frames, 13 coefficients and 13 deltas each.
        assert_eq!((features.len(), features[0].len()), (99, 26));
        assert!(
            features[50][13..].iter().all(|d| d.abs() < 1e-4),
            "a steady signal has no deltas"
        );
    }
}
