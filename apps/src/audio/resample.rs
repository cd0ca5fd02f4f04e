//! Sample-rate conversion by windowed-sinc interpolation: each output sample is the input
//! convolved with a Blackman-windowed sinc low-pass at the lower of the two Nyquist
//! frequencies (times 0.95, for the window's transition band), centred on its exact position.

use std::f64::consts::PI;

/// Zero crossings of the sinc kept on each side: long enough for a stop-band of about
/// -70 dB with a Blackman window, short enough for speech clips.
const HALF_WIDTH: f64 = 16.0;

/// Resamples `samples` from `from` Hz to `to` Hz.
pub fn resample(samples: &[f32], from: u32, to: u32) -> Vec<f32> {
    if from == to || samples.is_empty() {
        return samples.to_vec();
    }
    let ratio = to as f64 / from as f64;
    // Cut-off as a fraction of the input rate.
    let cutoff = 0.5 * ratio.min(1.0) * 0.95;
    let half_taps = (HALF_WIDTH / (2.0 * cutoff)).ceil();
    let n_out = (samples.len() as f64 * ratio).round() as usize;
    (0..n_out)
        .map(|j| {
            let centre = j as f64 / ratio;
            let first = (centre - half_taps).ceil().max(0.0) as usize;
            let last = ((centre + half_taps).floor() as usize).min(samples.len() - 1);
            (first..=last)
                .map(|i| {
                    let t = i as f64 - centre;
                    let x = 2.0 * cutoff * t;
                    let sinc = if x == 0.0 {
                        1.0
                    } else {
                        (PI * x).sin() / (PI * x)
                    };
                    let w = 0.5 + t / (2.0 * half_taps);
                    let window = 0.42 - 0.5 * (2.0 * PI * w).cos() + 0.08 * (4.0 * PI * w).cos();
                    samples[i] as f64 * 2.0 * cutoff * sinc * window
                })
                .sum::<f64>() as f32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(frequency: f64, rate: u32, seconds: f64) -> Vec<f32> {
        (0..(rate as f64 * seconds) as usize)
            .map(|i| (2.0 * PI * frequency * i as f64 / rate as f64).sin() as f32)
            .collect()
    }

    /// The frequency whose DFT magnitude is largest, searched in 1 Hz steps.
    fn dominant_frequency(samples: &[f32], rate: u32) -> f64 {
        let magnitude = |f: f64| {
            let (re, im) = samples
                .iter()
                .enumerate()
                .fold((0.0, 0.0), |(re, im), (i, &s)| {
                    let phase = 2.0 * PI * f * i as f64 / rate as f64;
                    (re + s as f64 * phase.cos(), im + s as f64 * phase.sin())
                });
            (re * re + im * im).sqrt()
        };
        (50..(rate / 2))
            .map(f64::from)
            .max_by(|a, b| magnitude(*a).total_cmp(&magnitude(*b)))
            .unwrap()
    }

    #[test]
    fn a_sine_keeps_its_frequency_and_amplitude() {
        for (from, to) in [(22050, 8000), (8000, 16000), (44100, 8000)] {
            let input = sine(440.0, from, 0.25);
            let output = resample(&input, from, to);
            assert_eq!(
                output.len(),
                (input.len() as f64 * to as f64 / from as f64).round() as usize
            );
            assert_eq!(dominant_frequency(&output, to), 440.0, "{from} -> {to}");
            // Away from the edges the samples are the sine at the new rate.
            let expected = sine(440.0, to, 0.25);
            let middle = output.len() / 4..3 * output.len() / 4;
            let worst = middle
                .map(|i| (output[i] - expected[i]).abs())
                .fold(0.0, f32::max);
            assert!(worst < 0.01, "{from} -> {to}: {worst}");
        }
    }

    #[test]
    fn frequencies_above_the_new_nyquist_are_removed() {
        // 6 kHz cannot exist at 8 kHz: it must be filtered out, not folded to 2 kHz.
        let output = resample(&sine(6000.0, 22050, 0.25), 22050, 8000);
        let rms = (output.iter().map(|v| v * v).sum::<f32>() / output.len() as f32).sqrt();
        assert!(rms < 0.01, "rms {rms}");
    }
}
