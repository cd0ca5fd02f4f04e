//! Users' own files, awkward but valid, as no bundled dataset is: sorted by label, semicolon or
//! tab separated whatever their name, a byte-order mark and CRLF line ends, quoted headers,
//! labels with spaces and non-ASCII letters, constant columns, 1:50 class imbalance, a class of
//! two examples, a test file with a label training never saw; image folders mixing PNG and
//! JPEG kinds; 24-bit stereo WAVs at 44.1 kHz. Each app trains on each and gets a sensible
//! result, or fails with an error that says what to do.

mod audio;
mod images;
mod tabular;
mod text;

use std::path::Path;

use zoo_apps::test_metrics::TestMetrics;

/// Writes `text` with a UTF-8 byte-order mark and CRLF line ends, as Excel saves a CSV.
pub fn write_windows_text(path: &Path, text: &str) {
    let mut bytes = b"\xef\xbb\xbf".to_vec();
    bytes.extend(text.replace('\n', "\r\n").into_bytes());
    std::fs::write(path, bytes).unwrap();
}

pub fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

pub fn accuracy(metrics: &TestMetrics) -> f64 {
    match metrics {
        TestMetrics::Classification { accuracy, .. } => *accuracy,
        TestMetrics::Regression { .. } => panic!("a classifier"),
    }
}
