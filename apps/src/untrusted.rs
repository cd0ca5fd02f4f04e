//! Every loader of users' files, and zoo-serve's readers of HTTP requests, run on arbitrary
//! bytes: what the fuzz targets in `fuzz/` call, and what `tests/fuzz_regressions.rs` runs on the
//! inputs they found. Each function writes the bytes where the loader expects a file (or sends
//! them to the server), runs the loader as the apps do and returns its error, if any. None may
//! panic, abort, hang or allocate more than the file justifies.

use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request};
use tower::ServiceExt;

use zoo_models::backend::BackendKind;

use crate::audio::clips::extract;
use crate::audio::mfcc::MfccConfig;
use crate::delimiter::Delimiter;
use crate::error::LoadError;
use crate::table::{TableOptions, read_table as read_numeric_table};
use crate::text::features::{TfidfConfig, TfidfVectorizer};
use crate::text::{Column, TableFormat, read_table};
use crate::vision::folder::{FolderOptions, SizePolicy, decode_image, infer_layout, load_folder};
use crate::vision::idx::{is_idx_images, read_images, read_labels};

/// A loader run on a file's bytes: its error, if any.
pub type Loader = fn(&[u8]) -> Result<(), String>;

/// The loaders a fuzz target covers, by the target's name.
pub const TARGETS: [(&str, Loader); 9] = [
    ("idx", idx),
    ("wav", wav),
    ("labelled_text", labelled_text),
    ("numeric_table", numeric_table),
    ("image_folder", image_folder),
    ("model_folder", model_folder),
    ("safetensors_weights", safetensors_weights),
    ("torch_weights", torch_weights),
    ("serve_request", serve_request),
];

fn scratch() -> tempfile::TempDir {
    tempfile::tempdir().expect("the temporary folder is writable")
}

fn write(path: &Path, bytes: &[u8]) {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("the temporary folder is writable");
    }
    std::fs::write(path, bytes).expect("the temporary folder is writable");
}

fn text(e: LoadError) -> String {
    e.to_string()
}

/// An IDX file read as images when its magic number says so, else as labels (MNIST's
/// formats), as `predict` tells them apart.
pub fn idx(bytes: &[u8]) -> Result<(), String> {
    let dir = scratch();
    let path = dir.path().join("data-idx-ubyte");
    write(&path, bytes);
    if is_idx_images(&path) {
        read_images(&path).map(drop).map_err(text)
    } else {
        read_labels(&path).map(drop).map_err(text)
    }
}

/// A WAV file through reading, resampling to 8 kHz and MFCCs (with deltas).
pub fn wav(bytes: &[u8]) -> Result<(), String> {
    let dir = scratch();
    let path = dir.path().join("clip.wav");
    write(&path, bytes);
    let config = MfccConfig {
        deltas: true,
        ..MfccConfig::default()
    };
    extract(&path, &config).map(drop).map_err(text)
}

/// A delimited file of labels and texts: its format detected, read, and the texts vectorised
/// with the default TF-IDF settings.
pub fn labelled_text(bytes: &[u8]) -> Result<(), String> {
    let dir = scratch();
    let path = dir.path().join("texts.csv");
    write(&path, bytes);
    let format = TableFormat::for_file(&path, None, None, None, Column::Index(0), Column::Index(1))
        .map_err(text)?;
    let table = read_table(&path, &format).map_err(text)?;
    let texts: Vec<&str> = table.texts.iter().map(String::as_str).collect();
    let vectorizer = TfidfVectorizer::fit(TfidfConfig::default(), &texts)?;
    vectorizer.transform(&texts);
    Ok(())
}

/// A numeric table. The first byte chooses how it is read (bit 0: a header; bits 1–2: lines
/// to skip; bit 3: gzip-compress the rest first, so that the decompressed path sees every
/// input too); the rest is the file. Every cell is then read as a number.
pub fn numeric_table(bytes: &[u8]) -> Result<(), String> {
    use std::io::Write;
    let Some((&choice, contents)) = bytes.split_first() else {
        return Ok(());
    };
    let dir = scratch();
    let path = dir.path().join("table.csv");
    if choice & 8 != 0 {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(contents).expect("writing to memory");
        write(&path, &encoder.finish().expect("writing to memory"));
    } else {
        write(&path, contents);
    }
    let options = TableOptions {
        delimiter: None::<Delimiter>,
        header: choice & 1 != 0,
        skip_rows: usize::from((choice >> 1) & 3),
    };
    let table = read_numeric_table(&path, &options).map_err(text)?;
    for row in 0..table.rows.len() {
        for column in 0..table.width() {
            table.number(row, column, &path).map_err(text)?;
        }
    }
    Ok(())
}

/// An image file in a one-class folder: the layout taken from it, the folder listed (its
/// header read) and the image decoded into the layout, then into a 28 × 28 one.
pub fn image_folder(bytes: &[u8]) -> Result<(), String> {
    let dir = scratch();
    write(&dir.path().join("class").join("image.png"), bytes);
    let layout = infer_layout(dir.path(), FolderOptions::default()).map_err(text)?;
    let images = load_folder(dir.path(), layout, SizePolicy::Reject, None).map_err(text)?;
    images.image(0).map_err(text)?;
    let small = crate::vision::ImageLayout {
        height: 28,
        width: 28,
        ..layout
    };
    decode_image(&dir.path().join("class").join("image.png"), small).map_err(text)?;
    Ok(())
}

/// A saved model folder loaded on the build's default CPU backend as `zoo-serve` loads it: the
/// model, then whichever app's preprocessing state `model.json` holds, checked against it. The
/// first four bytes (little-endian) give the length of `model.json`, which follows; the rest is
/// `model.bpk`.
pub fn model_folder(bytes: &[u8]) -> Result<(), String> {
    let Some((length, rest)) = bytes.split_first_chunk::<4>() else {
        return Ok(());
    };
    let split = (u32::from_le_bytes(*length) as usize).min(rest.len());
    let (manifest, weights) = rest.split_at(split);
    let dir = scratch();
    write(&dir.path().join(zoo_models::store::MANIFEST_FILE), manifest);
    write(&dir.path().join(zoo_models::store::WEIGHTS_FILE), weights);
    let device = BackendKind::default_for_build()
        .device()
        .map_err(|e| e.to_string())?;
    crate::predictor::Predictor::load(dir.path(), &device)
        .map(drop)
        .map_err(|e| format!("{e:#}"))
}

/// A safetensors file read as `--init-from` and `zoo-import` read PyTorch weights, for the
/// MLP of `tests/fixtures/torch/mlp.json` (4 inputs, hidden 16 and 8, 3 outputs); first, the
/// model.json its metadata may carry, read and checked as `zoo-import` without `--config`
/// does (most files carry none: that error is not the loader's result).
pub fn safetensors_weights(bytes: &[u8]) -> Result<(), String> {
    pytorch_weights(bytes, "safetensors")
}

/// [`safetensors_weights`] for a `torch.save` file (a zip of a pickle and tensor storages).
pub fn torch_weights(bytes: &[u8]) -> Result<(), String> {
    pytorch_weights(bytes, "pt")
}

fn pytorch_weights(bytes: &[u8], extension: &str) -> Result<(), String> {
    use zoo_models::mlp::{ActivationKind, MlpConfig};
    let dir = scratch();
    let path = dir.path().join(format!("weights.{extension}"));
    write(&path, bytes);
    if let Ok(manifest) = crate::interop::embedded_manifest(&path) {
        let _ = manifest.model.validate_for(manifest.task);
    }
    let config = zoo_models::model::ModelConfig::Mlp(
        MlpConfig::new(4, vec![16, 8], 3).with_activation(ActivationKind::Tanh),
    );
    let device = BackendKind::default_for_build()
        .device()
        .map_err(|e| e.to_string())?;
    let renames = zoo_models::interop::KeyRenames::default();
    zoo_models::interop::model_from_pytorch(&config, &path, &renames, &device)
        .map(drop)
        .map_err(|e| e.to_string())
}

/// The endpoints [`serve_request`] sends to, `{}` standing for the model's name.
const ENDPOINTS: [(Method, &str); 8] = [
    (Method::POST, "/v1/models/{}/predict"),
    (Method::POST, "/v1/models/{}/predict?top=2"),
    (Method::POST, "/v2/models/{}/infer"),
    (Method::POST, "/v2/models/{}/versions/1/infer"),
    (Method::POST, "/v1/models/{}:predict"),
    (Method::GET, "/v2/models/{}"),
    (Method::GET, "/v1/models/{}"),
    (Method::POST, "/v2/repository/models/{}/load"),
];

/// The models served, by name (`nothing` is not one), from the folders in
/// `tests/fixtures/previous-release`.
const MODELS: [(&str, &str); 6] = [
    ("image", "image-classifier"),
    ("text", "text-classifier"),
    ("audio", "audio-classifier"),
    ("iris", "tabular-iris"),
    ("diabetes", "tabular-diabetes"),
    ("nothing", ""),
];

const CONTENT_TYPES: [Option<&str>; 7] = [
    Some("application/json"),
    Some("image/png"),
    Some("audio/wav"),
    Some("text/plain"),
    Some("application/octet-stream"),
    Some("multipart/form-data; boundary=zoo"),
    None,
];

/// Bytes of body the server reads, and how long a request may take before it is a hang.
const MAX_BODY: usize = 1 << 20;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// zoo-serve's router with a model of every app, built once: the model folders that an earlier
/// release wrote (`tests/fixtures/previous-release`), on the build's default CPU backend.
fn server() -> &'static (tokio::runtime::Runtime, Router) {
    static SERVER: OnceLock<(tokio::runtime::Runtime, Router)> = OnceLock::new();
    SERVER.get_or_init(|| {
        let fixtures =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/previous-release");
        let specs: Vec<_> = MODELS
            .iter()
            .filter(|(_, folder)| !folder.is_empty())
            .map(|(name, folder)| crate::serve::ModelSpec {
                name: name.to_string(),
                dir: fixtures.join(folder),
            })
            .collect();
        let policy = crate::serve::batcher::BatchPolicy {
            max_batch: 8,
            max_wait: Duration::ZERO,
            queue: 16,
            power_of_two_batches: false,
        };
        let state =
            crate::serve::load_models(&specs, BackendKind::default_for_build(), policy, None)
                .expect("the fixtures' models load");
        let limits = crate::serve::api::RequestLimits {
            max_body: MAX_BODY,
            timeout: REQUEST_TIMEOUT,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        (runtime, crate::serve::api::router(state, limits))
    })
}

/// One HTTP request to zoo-serve, in-process, serving a model of every app. The first byte
/// chooses the endpoint, the second the model, the third the `Content-Type`; the fourth and
/// fifth (little-endian) are the binary tensor extension's `Inference-Header-Content-Length`
/// (65535: no such header); the rest is the body. A 4xx answer is the error returned; a 5xx
/// (a handler's panic is caught and answered 500) or a timeout is a defect, and panics.
pub fn serve_request(bytes: &[u8]) -> Result<(), String> {
    let Some((&[endpoint, model, content_type, low, high], body)) = bytes.split_first_chunk::<5>()
    else {
        return Ok(());
    };
    let (method, path) = &ENDPOINTS[usize::from(endpoint) % ENDPOINTS.len()];
    let (name, _) = MODELS[usize::from(model) % MODELS.len()];
    let mut request = Request::builder()
        .method(method)
        .uri(path.replace("{}", name));
    if let Some(content_type) = CONTENT_TYPES[usize::from(content_type) % CONTENT_TYPES.len()] {
        request = request.header("content-type", content_type);
    }
    let header_length = u16::from_le_bytes([low, high]);
    if header_length != u16::MAX {
        request = request.header("inference-header-content-length", header_length);
    }
    let request = request
        .body(Body::from(body.to_vec()))
        .expect("a well-formed request");
    let (runtime, router) = server();
    let (status, answer) = runtime.block_on(async {
        let response = router.clone().oneshot(request).await.expect("infallible");
        let status = response.status();
        let answer = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("a response body in memory");
        (status, answer)
    });
    let answer = String::from_utf8_lossy(&answer).into_owned();
    if status.is_server_error() || status == axum::http::StatusCode::REQUEST_TIMEOUT {
        panic!("{method} {path} for `{name}`: {status}: {answer}");
    }
    match status.is_success() {
        true => Ok(()),
        false => Err(format!("{status}: {answer}")),
    }
}
