//! `zoo-export` and `zoo-import`: a model folder out to PyTorch (safetensors) or ONNX, and a
//! PyTorch state dict plus a zoo `model.json` in as a model folder the apps' `evaluate` and
//! `predict` (and `zoo-serve`) accept.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Parser, ValueEnum};
use zoo_models::backend::BackendKind;
use zoo_models::interop::{self, MANIFEST_METADATA_KEY};
use zoo_models::store::{self, MANIFEST_FILE, ModelManifest, read_json, write_atomic};

use crate::cli::KeyMapArgs;
use crate::error::LoadError;
use crate::predictor::{Predictor, preprocessing_of};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// PyTorch's state dict layout (`torch.nn.Module.load_state_dict`), `model.json` in the
    /// file's metadata.
    Safetensors,
    /// An ONNX graph (opset 18) with a dynamic batch axis, `model.json` in its metadata (built
    /// with `--features onnx`).
    Onnx,
}

/// Writes a trained model folder's model as a PyTorch safetensors file or an ONNX graph. Both
/// compute the raw outputs (logits for classifiers) of inputs preprocessed as the folder's
/// model.json says.
#[derive(Parser, Debug)]
#[command(name = "zoo-export", version)]
pub struct ExportCli {
    /// A model folder (any app's `train --out`).
    #[arg(long, value_name = "DIR")]
    pub model_dir: PathBuf,
    #[arg(long, value_enum)]
    pub format: ExportFormat,
    /// The file to write (replaced if it exists).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

/// Makes a model folder from PyTorch weights and a zoo model.json (the model's config, task,
/// class names and the app's preprocessing), checking that an app can load it.
#[derive(Parser, Debug)]
#[command(name = "zoo-import", version)]
pub struct ImportCli {
    /// A PyTorch state dict: .safetensors, or torch.save's .pt/.pth.
    #[arg(long, value_name = "FILE")]
    pub weights: PathBuf,
    /// The model.json describing the model [default: the one zoo-export put into a
    /// .safetensors file's metadata].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub key_map: KeyMapArgs,
    /// The model folder to write.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// What `zoo-export` wrote, for its summary line.
pub struct Exported {
    pub app: &'static str,
    /// One input's shape: a row of features, or for the CNN's ONNX graph an image.
    pub input_shape: Vec<usize>,
    pub outputs: usize,
    pub bytes: usize,
}

/// Runs `zoo-export`.
pub fn export(cli: &ExportCli) -> anyhow::Result<Exported> {
    let device = BackendKind::default_for_build().device()?;
    let predictor = Predictor::load(&cli.model_dir, &device)?;
    let (bytes, input_shape) = match cli.format {
        ExportFormat::Safetensors => (
            interop::safetensors_bytes(&predictor.model, &predictor.manifest)?,
            vec![predictor.model.n_inputs()],
        ),
        ExportFormat::Onnx => (
            onnx_bytes(&predictor)?,
            interop::onnx_input_shape(&predictor.model),
        ),
    };
    write_atomic(&cli.out, &bytes)?;
    Ok(Exported {
        app: predictor.preprocessing.app(),
        input_shape,
        outputs: predictor.model.n_outputs(),
        bytes: bytes.len(),
    })
}

#[cfg(feature = "onnx")]
fn onnx_bytes(predictor: &Predictor) -> anyhow::Result<Vec<u8>> {
    Ok(interop::onnx_bytes(&predictor.model, &predictor.manifest)?)
}

#[cfg(not(feature = "onnx"))]
fn onnx_bytes(_: &Predictor) -> anyhow::Result<Vec<u8>> {
    anyhow::bail!("this build has no ONNX export; build with `--features onnx`")
}

/// Runs `zoo-import`: returns the app that will load the folder.
pub fn import(cli: &ImportCli) -> anyhow::Result<&'static str> {
    let manifest = match &cli.config {
        Some(path) => read_json::<ModelManifest>(path)?,
        None => embedded_manifest(&cli.weights)?,
    };
    let config_path = cli.config.clone().unwrap_or_else(|| cli.weights.clone());
    manifest
        .model
        .validate_for(manifest.task)
        .map_err(|e| LoadError::new(&config_path, e.to_string()))?;
    let device = BackendKind::default_for_build().device()?;
    let model = interop::model_from_pytorch(
        &manifest.model,
        &cli.weights,
        &cli.key_map.renames(),
        &device,
    )?;
    // The preprocessing is checked before anything is written: a folder no app can load is
    // not made.
    let app = preprocessing_of(&manifest, model.n_inputs())
        .map_err(|e| LoadError::new(&config_path, e))?
        .app();
    store::save(&cli.out, &model, &manifest)
        .with_context(|| format!("writing the model folder {}", cli.out.display()))?;
    Ok(app)
}

/// The model.json `zoo-export` stored in a safetensors file's metadata.
pub(crate) fn embedded_manifest(weights: &Path) -> anyhow::Result<ModelManifest> {
    let missing = || {
        anyhow::anyhow!(
            "{}: no --config given, and the file does not carry a model.json (only zoo-export's \
             .safetensors files do); pass the {MANIFEST_FILE} describing the model",
            weights.display()
        )
    };
    if interop::WeightsFormat::of(weights)? != interop::WeightsFormat::Safetensors {
        return Err(missing());
    }
    let text =
        interop::safetensors_metadata(weights, MANIFEST_METADATA_KEY)?.ok_or_else(missing)?;
    serde_json::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "{}: the model.json in its metadata is not valid: {e}",
            weights.display()
        )
    })
}
