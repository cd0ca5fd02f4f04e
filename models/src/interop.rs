//! Weights to and from PyTorch: safetensors files in PyTorch's layout (written and read), and
//! PyTorch's own `.pt`/`.pth` pickles (read), through burn-store's PyTorch adapters.
//!
//! A zoo model's PyTorch names are its own field names without the model's variant: `linear.*`
//! (linear and logistic regression), `hidden.{i}.*` and `output.*` (MLP), `blocks.{i}.conv.*`,
//! `hidden.*` and `output.*` (CNN). Dense weights are `[out, in]` as in `torch.nn.Linear`,
//! convolution kernels `[out, in, 3, 3]` as in `torch.nn.Conv2d`. [`pytorch_layout`] lists
//! them for a config; `bench/torch_zoo.py` declares the same modules in PyTorch.
//!
//! Reading checks a file against that list before any weight is touched, so that missing,
//! unexpected, wrongly shaped, non-float and truncated tensors are errors naming the key:
//! Burn's applier leaves a parameter whose tensor does not fit at its fresh weights, and a
//! panic inside it (a tensor with fewer bytes than its shape, transposed) aborts the process.

use std::collections::BTreeMap;
use std::path::Path;

use burn::store::{
    BurnToPyTorchAdapter, ChainAdapter, FloatCastAdapter, KeyRemapper, ModuleAdapter,
    ModuleSnapshot, ModuleStore, PyTorchToBurnAdapter, PytorchStore, SafetensorsStore,
};
use burn::tensor::DType;

use crate::error::{Error, Result};
use crate::model::{MAX_PARAMETERS, Model, ModelConfig};
use crate::store::{ModelManifest, write_atomic};

type PackTensor = burn::store::burn_pack::Tensor;

/// The metadata key (in a safetensors header, and in an ONNX graph's `metadata_props`) under
/// which an export carries its model folder's `model.json`.
pub const MANIFEST_METADATA_KEY: &str = "burn_zoo.model_json";
/// The largest weights file read: the most a model may have ([`MAX_PARAMETERS`] f32 values),
/// so no file is mapped into memory for a model that could not hold it.
const MAX_WEIGHTS_FILE: u64 = (MAX_PARAMETERS * size_of::<f32>()) as u64;

fn file_error(path: &Path, message: impl ToString) -> Error {
    Error::Store {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// A weights file larger than any model's weights is refused before it is read.
fn check_size(path: &Path) -> Result<()> {
    let size = std::fs::metadata(path)
        .map_err(|e| file_error(path, e))?
        .len();
    if size > MAX_WEIGHTS_FILE {
        return Err(file_error(
            path,
            format!("{size} bytes is more than any zoo model's weights"),
        ));
    }
    Ok(())
}

/// One parameter as PyTorch names and shapes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PytorchParameter {
    pub key: String,
    pub shape: Vec<usize>,
}

/// The state dict a PyTorch twin of `model` has: every parameter's key and shape, in the
/// model's order.
pub fn pytorch_layout(model: &Model) -> Vec<PytorchParameter> {
    model
        .collect(None, Some(Box::new(BurnToPyTorchAdapter)), true)
        .into_iter()
        .map(|t| PytorchParameter {
            key: t.name,
            shape: t.shape.to_vec(),
        })
        .collect()
}

/// The file formats weights come in, told by the file's extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightsFormat {
    Safetensors,
    /// `torch.save` of a state dict (`.pt`, `.pth`).
    TorchPickle,
}

impl WeightsFormat {
    pub fn of(path: &Path) -> Result<Self> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("safetensors") => Ok(WeightsFormat::Safetensors),
            Some("pt" | "pth") => Ok(WeightsFormat::TorchPickle),
            _ => Err(file_error(
                path,
                "weights must be a .safetensors, .pt or .pth file",
            )),
        }
    }

    fn name(self) -> &'static str {
        match self {
            WeightsFormat::Safetensors => "safetensors",
            WeightsFormat::TorchPickle => "PyTorch (.pt)",
        }
    }
}

/// How the keys of a file are renamed before they are matched to the model's: `(regex,
/// replacement)` pairs applied in order, as `regex::Regex::replace` does (`$1` for a group).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyRenames(pub Vec<(String, String)>);

impl KeyRenames {
    /// Parses `FROM=TO` (a regex and its replacement).
    pub fn parse_rule(text: &str) -> std::result::Result<(String, String), String> {
        let (from, to) = text.split_once('=').ok_or_else(|| {
            format!("expected FROM=TO (a regex and its replacement), got `{text}`")
        })?;
        KeyRemapper::new()
            .add_pattern(from, to)
            .map_err(|e| format!("`{from}` is not a valid regex: {e}"))?;
        Ok((from.to_string(), to.to_string()))
    }

    /// The checkpoint wrappers PyTorch users save (`{"state_dict": …}`, `{"model_state_dict":
    /// …}`) are unwrapped first, then the user's rules apply.
    fn remapper(&self) -> Result<KeyRemapper, String> {
        let mut remapper = KeyRemapper::new()
            .add_pattern(r"^(model_)?state_dict\.", "")
            .map_err(|e| e.to_string())?;
        for (from, to) in &self.0 {
            remapper = remapper
                .add_pattern(from, to)
                .map_err(|e| format!("`{from}` is not a valid regex: {e}"))?;
        }
        Ok(remapper)
    }
}

/// Every tensor of a PyTorch weights file, by key (after `renames`).
fn read_tensors(path: &Path, renames: &KeyRenames) -> Result<BTreeMap<String, PackTensor>> {
    let format = WeightsFormat::of(path)?;
    check_size(path)?;
    let remapper = renames.remapper().map_err(|e| file_error(path, e))?;
    let unreadable = |e: &dyn std::fmt::Display| {
        file_error(path, format!("not a readable {} file: {e}", format.name()))
    };
    // Burn's readers parse untrusted bytes (pickles, zip archives, JSON headers). Fuzzing them
    // found no panic (README "Bad files and fuzzing"); should one panic all the same, the file
    // is reported unreadable rather than the program ending.
    let read = std::panic::catch_unwind(|| match format {
        WeightsFormat::Safetensors => SafetensorsStore::from_file(path)
            .remap(remapper)
            .get_all_tensors()
            .cloned()
            .map_err(|e| unreadable(&e)),
        WeightsFormat::TorchPickle => PytorchStore::from_file(path)
            .remap(remapper)
            .get_all_tensors()
            .cloned()
            .map_err(|e| unreadable(&e)),
    });
    read.unwrap_or_else(|_| Err(unreadable(&"its contents are inconsistent")))
}

/// What is wrong with `tensors` as the state dict of `layout`, one line per key.
fn layout_problems(
    tensors: &BTreeMap<String, PackTensor>,
    layout: &[PytorchParameter],
) -> Vec<String> {
    let mut problems = Vec::new();
    for parameter in layout {
        let Some(tensor) = tensors.get(&parameter.key) else {
            problems.push(format!(
                "missing key `{}` (a {:?} tensor)",
                parameter.key, parameter.shape
            ));
            continue;
        };
        let shape = tensor.shape.to_vec();
        if shape != parameter.shape {
            problems.push(format!(
                "`{}` is {:?} but the model needs {:?}",
                parameter.key, shape, parameter.shape
            ));
        } else if !matches!(
            tensor.dtype,
            DType::F64 | DType::F32 | DType::F16 | DType::BF16
        ) {
            problems.push(format!(
                "`{}` holds {:?} values, not floating-point weights",
                parameter.key, tensor.dtype
            ));
        } else if tensor.byte_len() != shape.iter().product::<usize>() * tensor.dtype.size() {
            problems.push(format!(
                "`{}` has {} bytes of data, not the {} its shape and type need",
                parameter.key,
                tensor.byte_len(),
                shape.iter().product::<usize>() * tensor.dtype.size()
            ));
        }
    }
    let expected: std::collections::HashSet<&str> = layout.iter().map(|p| p.key.as_str()).collect();
    for key in tensors.keys().filter(|k| !expected.contains(k.as_str())) {
        problems.push(format!("unexpected key `{key}`"));
    }
    problems
}

/// Replaces `model`'s weights by those of the PyTorch file at `path` (safetensors, or a
/// `torch.save`d state dict), whose keys, after `renames`, must be exactly the model's
/// [`pytorch_layout`]. Weights of any float type are converted to f32.
pub fn load_pytorch(model: &mut Model, path: &Path, renames: &KeyRenames) -> Result<()> {
    let tensors = read_tensors(path, renames)?;
    let layout = pytorch_layout(model);
    let problems = layout_problems(&tensors, &layout);
    if !problems.is_empty() {
        let listed: Vec<String> = problems.iter().map(|p| format!("\n  {p}")).collect();
        return Err(file_error(
            path,
            format!(
                "these weights do not fit the {} model:{}",
                model.name(),
                listed.concat()
            ),
        ));
    }
    let adapter: Box<dyn ModuleAdapter> = Box::new(ChainAdapter::new(
        PyTorchToBurnAdapter,
        FloatCastAdapter::to(DType::F32),
    ));
    let result = model.apply(tensors.into_values().collect(), None, Some(adapter), true);
    if let Some(error) = result.errors.first() {
        return Err(file_error(path, error));
    }
    if let Some((key, _)) = result.missing.first() {
        return Err(file_error(path, format!("missing key `{key}`")));
    }
    Ok(())
}

/// `config`'s model with the weights of a PyTorch file (see [`load_pytorch`]).
pub fn model_from_pytorch(
    config: &ModelConfig,
    path: &Path,
    renames: &KeyRenames,
    device: &burn::prelude::Device,
) -> Result<Model> {
    let mut model = config.init(device)?;
    load_pytorch(&mut model, path, renames)?;
    Ok(model)
}

/// The model's weights as a safetensors file in PyTorch's layout ([`pytorch_layout`]), which
/// `torch.nn.Module.load_state_dict(safetensors.torch.load_file(path), strict=True)` accepts
/// on the PyTorch twin; the manifest goes into the file's metadata.
pub fn safetensors_bytes(model: &Model, manifest: &ModelManifest) -> Result<Vec<u8>> {
    let manifest_json =
        serde_json::to_string(manifest).map_err(|e| Error::Export(e.to_string()))?;
    let mut store = SafetensorsStore::from_bytes(None)
        .with_to_adapter(BurnToPyTorchAdapter)
        .skip_enum_variants(true)
        .metadata(MANIFEST_METADATA_KEY, manifest_json);
    model
        .save_into(&mut store)
        .map_err(|e| Error::Export(e.to_string()))?;
    store.get_bytes().map_err(|e| Error::Export(e.to_string()))
}

/// The value of `key` in a safetensors file's metadata, if it has one.
pub fn safetensors_metadata(path: &Path, key: &str) -> Result<Option<String>> {
    check_size(path)?;
    let bytes = std::fs::read(path).map_err(|e| file_error(path, e))?;
    let (_, metadata) = safetensors::SafeTensors::read_metadata(&bytes)
        .map_err(|e| file_error(path, format!("not a readable safetensors file: {e}")))?;
    Ok(metadata
        .metadata()
        .as_ref()
        .and_then(|m| m.get(key).cloned()))
}

/// Writes [`safetensors_bytes`] to `path` atomically.
pub fn export_safetensors(model: &Model, manifest: &ModelManifest, path: &Path) -> Result<()> {
    write_atomic(path, &safetensors_bytes(model, manifest)?)
}

/// The shape of the ONNX export's input: `[batch, n_inputs]` rows, or `[batch, channels,
/// height, width]` images for the CNN (the rows reshaped, as its `forward` does).
pub fn onnx_input_shape(model: &Model) -> Vec<usize> {
    match model {
        Model::Cnn(cnn) => vec![cnn.channels, cnn.height, cnn.width],
        _ => vec![model.n_inputs()],
    }
}

/// The model as an ONNX graph (opset 18, weights embedded) from f32 inputs of
/// [`onnx_input_shape`] to its raw outputs (logits or regression values), with a dynamic batch
/// axis; the manifest goes into the graph's metadata under [`MANIFEST_METADATA_KEY`] (what
/// onnxruntime's `get_modelmeta().custom_metadata_map` returns).
#[cfg(feature = "onnx")]
pub fn onnx_bytes(model: &Model, manifest: &ModelManifest) -> Result<Vec<u8>> {
    use protobuf::Message;

    let graph = onnx_graph(model)?;
    let mut proto = onnx_ir::ModelProto::parse_from_bytes(&graph)
        .map_err(|e| Error::Export(format!("reading the exported graph back: {e}")))?;
    let manifest_json =
        serde_json::to_string(manifest).map_err(|e| Error::Export(e.to_string()))?;
    proto.metadata_props.push(Default::default());
    if let Some(entry) = proto.metadata_props.last_mut() {
        entry.key = MANIFEST_METADATA_KEY.to_string();
        entry.value = manifest_json;
    }
    proto
        .write_to_bytes()
        .map_err(|e| Error::Export(format!("writing the graph: {e}")))
}

#[cfg(feature = "onnx")]
fn onnx_graph(model: &Model) -> Result<Vec<u8>> {
    use burn::prelude::Tensor;
    use burn_onnx::export::{AxisSpec, ExportError, InputSpec, OnnxExporter};

    // The sample inputs are moved to the exporter's capture device; they start on the CPU.
    let device = crate::backend::BackendKind::default_for_build().device()?;
    let n_inputs = model.n_inputs();
    // Two traces of different batch sizes tell the exporter which axis is the batch.
    let exporter = OnnxExporter::new();
    let exported = match model {
        // The exporter proves a reshape's axes static only from its source's, so the rows are
        // made images outside the graph: [batch, C·H·W] → [batch, C, H, W] has two axes it
        // cannot tell from the batch.
        Model::Cnn(cnn) => {
            let shape = |batch| [batch, cnn.channels, cnn.height, cnn.width];
            let specs = [InputSpec::new([
                AxisSpec::dynamic("batch"),
                AxisSpec::Static,
                AxisSpec::Static,
                AxisSpec::Static,
            ])];
            exporter.export_dynamic(
                cnn,
                Tensor::<4>::zeros(shape(2), &device),
                Tensor::<4>::zeros(shape(3), &device),
                &specs,
                |m, x| m.forward_images(x),
            )
        }
        _ => {
            let specs = [InputSpec::new([
                AxisSpec::dynamic("batch"),
                AxisSpec::Static,
            ])];
            exporter.export_dynamic(
                model,
                Tensor::<2>::zeros([2, n_inputs], &device),
                Tensor::<2>::zeros([3, n_inputs], &device),
                &specs,
                |m, x| m.forward(x),
            )
        }
    };
    exported.map(|onnx| onnx.into_bytes()).map_err(|e| {
        Error::Export(match e {
            ExportError::UnsupportedOperation { kind, .. } => format!(
                "the ONNX exporter (burn-onnx 0.22) cannot express the {} model's {} \
                 operation",
                model.name(),
                operation_name(&kind)
            ),
            other => format!("ONNX export failed: {other}"),
        })
    })
}

/// The operation's name in the exporter's debug text of it: `Gelu` in
/// `Activation(Gelu(UnaryOpIr { … }))`, the innermost name before the operands.
#[cfg(feature = "onnx")]
fn operation_name(kind: &str) -> &str {
    kind.split('(')
        .take_while(|part| part.chars().all(char::is_alphanumeric))
        .last()
        .unwrap_or(kind)
}
