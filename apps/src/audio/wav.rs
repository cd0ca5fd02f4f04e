//! WAV files to mono samples in [-1, 1], with `hound`: integer PCM of 8, 16, 24 or 32 bits and
//! 32-bit float, any number of channels (averaged), any sample rate.

use std::path::Path;

use hound::{SampleFormat, WavReader};

use crate::error::LoadError;

/// Mono audio.
#[derive(Clone, Debug, PartialEq)]
pub struct Audio {
    pub samples: Vec<f32>,
    pub sample_rate: u32,
}

fn wav_error(path: &Path, error: hound::Error) -> LoadError {
    let message = match error {
        // hound reports a short read as an `Other` error with this text.
        hound::Error::IoError(e)
            if e.kind() == std::io::ErrorKind::UnexpectedEof
                || e.to_string().contains("Failed to read enough bytes") =>
        {
            "truncated: the file ends inside its header or samples".to_string()
        }
        hound::Error::IoError(e) => format!("cannot read: {e}"),
        hound::Error::FormatError(what) => format!("not a valid WAV file: {what}"),
        hound::Error::Unsupported => {
            "unsupported WAV encoding: only integer PCM (8/16/24/32-bit) and 32-bit float are read"
                .to_string()
        }
        other => format!("not a readable WAV file: {other}"),
    };
    LoadError::new(path, message)
}

/// The most samples (of all channels) a WAV file may hold: 2³⁰, six hours of 48 kHz stereo.
pub const MAX_WAV_SAMPLES: u64 = 1 << 30;

/// The sample rates a WAV file may have. Resampling to 8 kHz makes at most twice as many
/// samples as the file holds, and sums a window of at most ~1,600 of them per sample; a header
/// claiming 0 Hz (an infinite ratio) or 1 Hz (8,000 outputs per sample) is refused instead.
pub const SAMPLE_RATES: std::ops::RangeInclusive<u32> = 4_000..=384_000;

/// Reads a WAV file as mono samples in [-1, 1]. The number of samples the header claims is
/// checked against the file's size and [`MAX_WAV_SAMPLES`] before any is read.
pub fn read_wav(path: &Path) -> Result<Audio, LoadError> {
    let file =
        std::fs::File::open(path).map_err(|e| LoadError::new(path, format!("cannot read: {e}")))?;
    let size = file
        .metadata()
        .map_err(|e| LoadError::new(path, format!("cannot read: {e}")))?
        .len();
    read_wav_from(std::io::BufReader::new(file), size, path)
}

/// [`read_wav`] for a WAV file already in memory; `name` is the path its errors show.
pub fn read_wav_bytes(name: &Path, bytes: &[u8]) -> Result<Audio, LoadError> {
    read_wav_from(bytes, bytes.len() as u64, name)
}

/// Reads the `size` bytes of a WAV file from `source`.
fn read_wav_from(source: impl std::io::Read, size: u64, path: &Path) -> Result<Audio, LoadError> {
    let mut reader = WavReader::new(source).map_err(|e| wav_error(path, e))?;
    let spec = reader.spec();
    if !SAMPLE_RATES.contains(&spec.sample_rate) {
        return Err(LoadError::new(
            path,
            format!(
                "the sample rate is {} Hz; a WAV file here has {} to {} Hz",
                spec.sample_rate,
                SAMPLE_RATES.start(),
                SAMPLE_RATES.end()
            ),
        ));
    }
    let claimed = reader.len() as u64;
    let claimed_bytes = claimed * (spec.bits_per_sample as u64).div_ceil(8);
    if claimed > MAX_WAV_SAMPLES {
        return Err(LoadError::new(
            path,
            format!(
                "the header claims {claimed} samples, more than the {MAX_WAV_SAMPLES} a WAV \
                 file may hold here"
            ),
        ));
    }
    if claimed_bytes > size {
        return Err(LoadError::new(
            path,
            format!(
                "truncated: the header claims {claimed} samples ({claimed_bytes} bytes), the \
                 file has {size} bytes"
            ),
        ));
    }
    let interleaved: Vec<f32> = match (spec.sample_format, spec.bits_per_sample) {
        (SampleFormat::Float, 32) => reader.samples::<f32>().collect::<Result<_, _>>(),
        (SampleFormat::Int, bits @ (8 | 16 | 24 | 32)) => {
            let scale = 1.0 / (1u64 << (bits - 1)) as f32;
            reader
                .samples::<i32>()
                .map(|s| s.map(|s| s as f32 * scale))
                .collect::<Result<_, _>>()
        }
        _ => Err(hound::Error::Unsupported),
    }
    .map_err(|e| wav_error(path, e))?;
    let channels = spec.channels as usize;
    if interleaved.len() < channels || channels == 0 {
        return Err(LoadError::new(path, "no audio samples"));
    }
    let samples = interleaved
        .chunks_exact(channels)
        .map(|frame| frame.iter().sum::<f32>() / channels as f32)
        .collect();
    Ok(Audio {
        samples,
        sample_rate: spec.sample_rate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(channels: u16, sample_rate: u32, bits: u16, format: SampleFormat) -> hound::WavSpec {
        hound::WavSpec {
            channels,
            sample_rate,
            bits_per_sample: bits,
            sample_format: format,
        }
    }

    #[test]
    fn reads_every_pcm_width_float_and_stereo_alike() {
        let dir = tempfile::tempdir().unwrap();
        // A half-scale square wave: +0.5, -0.5, …
        let values = [0.5f32, -0.5, 0.5, -0.5];
        for bits in [8u16, 16, 24, 32] {
            let path = dir.path().join(format!("int{bits}.wav"));
            let mut w =
                hound::WavWriter::create(&path, spec(1, 8000, bits, SampleFormat::Int)).unwrap();
            let full = (1i64 << (bits - 1)) as f32;
            for v in values {
                match bits {
                    8 => w.write_sample((v * full) as i8).unwrap(),
                    16 => w.write_sample((v * full) as i16).unwrap(),
                    _ => w.write_sample((v * full) as i32).unwrap(),
                }
            }
            w.finalize().unwrap();
            let audio = read_wav(&path).unwrap();
            assert_eq!(audio.samples, values, "{bits}-bit");
            assert_eq!(audio.sample_rate, 8000);
        }
        let path = dir.path().join("float-stereo-22k.wav");
        let mut w =
            hound::WavWriter::create(&path, spec(2, 22050, 32, SampleFormat::Float)).unwrap();
        for v in values {
            // Left and right differ; their mean is `v`.
            w.write_sample(v + 0.25).unwrap();
            w.write_sample(v - 0.25).unwrap();
        }
        w.finalize().unwrap();
        let audio = read_wav(&path).unwrap();
        assert_eq!(
            (audio.samples.as_slice(), audio.sample_rate),
            (values.as_slice(), 22050)
        );
    }

    #[test]
    fn bad_files_say_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, bytes: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            path
        };
        let not_wav = write("text.wav", b"this is not audio at all, just words");
        assert!(
            read_wav(&not_wav)
                .unwrap_err()
                .message
                .contains("not a valid WAV")
        );

        let empty_path = dir.path().join("empty.wav");
        hound::WavWriter::create(&empty_path, spec(1, 8000, 16, SampleFormat::Int))
            .unwrap()
            .finalize()
            .unwrap();
        assert_eq!(
            read_wav(&empty_path).unwrap_err().message,
            "no audio samples"
        );

        let full = std::fs::read(&empty_path).unwrap();
        let truncated = write("truncated.wav", &full[..20]);
        let err = read_wav(&truncated).unwrap_err().message;
        assert!(err.starts_with("truncated"), "{err}");

        // A-law (format tag 6): a valid header of an encoding we do not decode.
        let mut alaw = full.clone();
        alaw[20] = 6;
        alaw[34] = 8;
        alaw[32] = 1;
        alaw[28..32].copy_from_slice(&8000u32.to_le_bytes());
        alaw.extend_from_slice(&[0xd5; 16]);
        let len = (alaw.len() - 44) as u32;
        alaw[40..44].copy_from_slice(&len.to_le_bytes());
        let riff = (alaw.len() - 8) as u32;
        alaw[4..8].copy_from_slice(&riff.to_le_bytes());
        let alaw = write("alaw.wav", &alaw);
        let err = read_wav(&alaw).unwrap_err().message;
        assert!(err.contains("unsupported WAV encoding"), "{err}");

        // 16-bit headers whose data chunk claims 2³¹ samples, or a million, followed by five of
        // them: refused before any memory is set aside for the claim, by the limit or by the
        // file's size.
        let claiming = |name: &str, data_bytes: u32| {
            let mut bytes = full.clone();
            bytes[40..44].copy_from_slice(&data_bytes.to_le_bytes());
            bytes.extend_from_slice(&[0; 10]);
            read_wav(&write(name, &bytes)).unwrap_err().message
        };
        let err = claiming("huge.wav", u32::MAX - 1);
        assert!(
            err.contains("claims 2147483647 samples, more than the 1073741824"),
            "{err}"
        );
        let err = claiming("long.wav", 2_000_000);
        assert!(
            err.starts_with(
                "truncated: the header claims 1000000 samples (2000000 bytes), the \
                 file has 54 bytes"
            ),
            "{err}"
        );

        // A sample rate of 0 Hz (resampling would ask for infinitely many samples; the fuzzer
        // found it) or 1 Hz.
        for rate in [0u32, 1] {
            let mut bytes = full.clone();
            bytes[24..28].copy_from_slice(&rate.to_le_bytes());
            bytes[28..32].copy_from_slice(&(2 * rate).to_le_bytes()); // bytes per second
            bytes.extend_from_slice(&[0; 4]);
            bytes[40..44].copy_from_slice(&4u32.to_le_bytes());
            let err = read_wav(&write("rate.wav", &bytes)).unwrap_err().message;
            assert!(
                err.contains(&format!(
                    "the sample rate is {rate} Hz; a WAV file here has"
                )),
                "{err}"
            );
        }
    }
}
