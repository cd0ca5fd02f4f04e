//! Audio in, examples out: WAV files, resampled, turned into MFCC matrices.

pub mod clips;
pub mod mfcc;
pub mod preprocessing;
pub mod resample;
pub mod wav;
