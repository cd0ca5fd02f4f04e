//! PyTorch interop: weights trained in PyTorch (tests/fixtures/torch, made by
//! bench/torch_interop.py) give PyTorch's outputs on every backend; exports are PyTorch's state
//! dict exactly; bad weight files are errors naming the key; ONNX exports run in onnxruntime.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use safetensors::tensor::{Dtype, TensorView};
use serde::Deserialize;
use zoo_models::interop::{
    self, KeyRenames, MANIFEST_METADATA_KEY, load_pytorch, model_from_pytorch, pytorch_layout,
};
use zoo_models::model::{Model, ModelConfig};
use zoo_models::prelude::*;
use zoo_tests::{cpu_backends, exclusive_rng, wgpu_device};

/// The CPU device the apps use (`Device::default()` would be wgpu in a build with it).
fn cpu() -> Device {
    BackendKind::default_for_build().device().unwrap()
}

const MODELS: [&str; 4] = ["linear", "logistic", "mlp", "cnn"];
const TOLERANCE: f32 = 1e-5;

/// What bench/torch_interop.py recorded for one model: its zoo config and task, input rows
/// and PyTorch's outputs for them.
#[derive(Deserialize)]
struct Fixture {
    model: ModelConfig,
    task: Task,
    inputs: Vec<Vec<f32>>,
    outputs: Vec<Vec<f32>>,
}

fn fixture_path(name: &str, extension: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("fixtures/torch/{name}.{extension}"))
}

fn fixture(name: &str) -> Fixture {
    let text = std::fs::read_to_string(fixture_path(name, "json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn outputs(model: &Model, rows: &[Vec<f32>], device: &Device) -> Vec<Vec<f32>> {
    let width = rows[0].len();
    let flat: Vec<f32> = rows.concat();
    let input = Tensor::<2>::from_data(TensorData::new(flat, [rows.len(), width]), device);
    let output = model.forward(input);
    let [_, n_outputs] = output.dims();
    let values = output.into_data().try_to_vec::<f32>().unwrap();
    values.chunks(n_outputs).map(<[f32]>::to_vec).collect()
}

fn max_difference(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .flat_map(|(x, y)| {
            assert_eq!(x.len(), y.len());
            x.iter().zip(y).map(|(p, q)| (p - q).abs())
        })
        .fold(0.0, f32::max)
}

fn every_device() -> Vec<(String, Device)> {
    let mut devices: Vec<(String, Device)> = cpu_backends()
        .into_iter()
        .map(|(backend, device)| (backend.to_string(), device))
        .collect();
    devices.extend(wgpu_device("interop").map(|d| ("wgpu".to_string(), d)));
    devices
}

#[test]
fn pytorch_trained_weights_give_pytorch_outputs_on_every_backend() {
    let _rng = exclusive_rng();
    for (backend, device) in every_device() {
        for name in MODELS {
            let fixture = fixture(name);
            // .pt files are torch.save pickles (the MLP's a {"state_dict", "epoch"} checkpoint).
            for extension in ["safetensors", "pt"] {
                let path = fixture_path(name, extension);
                let model =
                    model_from_pytorch(&fixture.model, &path, &KeyRenames::default(), &device)
                        .unwrap_or_else(|e| panic!("{name}.{extension} on {backend}: {e}"));
                let difference =
                    max_difference(&outputs(&model, &fixture.inputs, &device), &fixture.outputs);
                assert!(
                    difference <= TOLERANCE,
                    "{name}.{extension} on {backend}: outputs differ from PyTorch's by {difference}"
                );
                eprintln!("{name}.{extension} on {backend}: max |zoo - torch| = {difference:.2e}");
            }
        }
    }
}

/// The tensors of a safetensors file: key → (dtype, shape, little-endian bytes).
fn tensors(bytes: &[u8]) -> BTreeMap<String, (Dtype, Vec<usize>, Vec<u8>)> {
    let file = safetensors::SafeTensors::deserialize(bytes).unwrap();
    file.tensors()
        .into_iter()
        .map(|(key, view)| {
            (
                key,
                (view.dtype(), view.shape().to_vec(), view.data().to_vec()),
            )
        })
        .collect()
}

#[test]
fn an_imported_model_exports_the_state_dict_it_came_from() {
    let _rng = exclusive_rng();
    let device = cpu();
    for name in MODELS {
        let fixture = fixture(name);
        let path = fixture_path(name, "safetensors");
        let model =
            model_from_pytorch(&fixture.model, &path, &KeyRenames::default(), &device).unwrap();
        let manifest = ModelManifest::new(fixture.model.clone(), fixture.task);
        let exported = interop::safetensors_bytes(&model, &manifest).unwrap();
        // Same keys, shapes, dtypes and bytes: what load_state_dict(strict=True) checks, and
        // the weights themselves.
        assert_eq!(
            tensors(&exported),
            tensors(&std::fs::read(&path).unwrap()),
            "{name}"
        );
        let (_, metadata) = safetensors::SafeTensors::read_metadata(&exported).unwrap();
        let embedded = metadata.metadata().as_ref().unwrap()[MANIFEST_METADATA_KEY].clone();
        assert_eq!(
            serde_json::from_str::<ModelManifest>(&embedded).unwrap(),
            manifest
        );
    }
}

/// Zoo-initialised models of every kind, on `device`, with their fixture's inputs.
fn zoo_models(device: &Device) -> Vec<(&'static str, Fixture, Model)> {
    MODELS
        .into_iter()
        .map(|name| {
            let fixture = fixture(name);
            device.seed(11);
            let model = fixture.model.init(device).unwrap();
            (name, fixture, model)
        })
        .collect()
}

/// Exports zoo-initialised models for PyTorch and reads them back as PyTorch weights. With
/// `BURN_ZOO_INTEROP_OUT=DIR` it leaves NAME.safetensors and NAME.json (config, inputs, the
/// zoo's outputs) there for `bench/torch_interop.py check-exports DIR`.
#[test]
fn exports_read_back_as_pytorch_weights_with_the_same_outputs() {
    let _rng = exclusive_rng();
    let device = cpu();
    let kept = std::env::var_os("BURN_ZOO_INTEROP_OUT").map(PathBuf::from);
    let scratch = tempfile::tempdir().unwrap();
    let dir = kept.clone().unwrap_or_else(|| scratch.path().to_path_buf());
    std::fs::create_dir_all(&dir).unwrap();
    for (name, fixture, model) in zoo_models(&device) {
        let manifest = ModelManifest::new(fixture.model.clone(), fixture.task);
        let path = dir.join(format!("{name}.safetensors"));
        interop::export_safetensors(&model, &manifest, &path).unwrap();
        let exported = tensors(&std::fs::read(&path).unwrap());
        let layout: Vec<(String, Vec<usize>)> = pytorch_layout(&model)
            .into_iter()
            .map(|p| (p.key, p.shape))
            .collect();
        let mut on_file: Vec<(String, Vec<usize>)> = exported
            .iter()
            .map(|(k, (_, shape, _))| (k.clone(), shape.clone()))
            .collect();
        let mut expected = layout.clone();
        on_file.sort();
        expected.sort();
        assert_eq!(on_file, expected, "{name}");
        assert!(exported.values().all(|(dtype, _, _)| *dtype == Dtype::F32));

        let zoo_outputs = outputs(&model, &fixture.inputs, &device);
        device.seed(99);
        let mut reloaded = fixture.model.init(&device).unwrap();
        load_pytorch(&mut reloaded, &path, &KeyRenames::default()).unwrap();
        assert_eq!(
            outputs(&reloaded, &fixture.inputs, &device),
            zoo_outputs,
            "{name}"
        );
        if kept.is_some() {
            let record = serde_json::json!({
                "model": fixture.model,
                "task": fixture.task,
                "inputs": fixture.inputs,
                "outputs": zoo_outputs,
            });
            std::fs::write(dir.join(format!("{name}.json")), record.to_string()).unwrap();
        }
    }
}

#[test]
fn onnx_inputs_are_rows_or_the_cnns_images() {
    let device = cpu();
    let input_shape =
        |name: &str| interop::onnx_input_shape(&fixture(name).model.init(&device).unwrap());
    assert_eq!(input_shape("mlp"), [4]);
    assert_eq!(input_shape("cnn"), [1, 28, 28]);
}

#[test]
fn the_pytorch_layout_is_the_documented_key_map() {
    let device = cpu();
    let layout = |name: &str| -> Vec<(String, Vec<usize>)> {
        let model = fixture(name).model.init(&device).unwrap();
        pytorch_layout(&model)
            .into_iter()
            .map(|p| (p.key, p.shape))
            .collect()
    };
    let pairs = |list: &[(&str, &[usize])]| -> Vec<(String, Vec<usize>)> {
        list.iter()
            .map(|(k, s)| (k.to_string(), s.to_vec()))
            .collect()
    };
    assert_eq!(
        layout("linear"),
        pairs(&[("linear.weight", &[1, 10]), ("linear.bias", &[1])])
    );
    assert_eq!(
        layout("mlp"),
        pairs(&[
            ("hidden.0.weight", &[16, 4]),
            ("hidden.0.bias", &[16]),
            ("hidden.1.weight", &[8, 16]),
            ("hidden.1.bias", &[8]),
            ("output.weight", &[3, 8]),
            ("output.bias", &[3]),
        ])
    );
    assert_eq!(
        layout("cnn"),
        pairs(&[
            ("blocks.0.conv.weight", &[4, 1, 3, 3]),
            ("blocks.0.conv.bias", &[4]),
            ("blocks.1.conv.weight", &[8, 4, 3, 3]),
            ("blocks.1.conv.bias", &[8]),
            ("hidden.weight", &[16, 392]),
            ("hidden.bias", &[16]),
            ("output.weight", &[10, 16]),
            ("output.bias", &[10]),
        ])
    );
}

/// One tensor of a hand-made safetensors file: key, dtype, shape and little-endian bytes.
type RawTensor = (&'static str, Dtype, Vec<usize>, Vec<u8>);

/// A safetensors file of `tensors`.
fn safetensors_file(dir: &Path, name: &str, tensors: &[RawTensor]) -> PathBuf {
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .map(|(key, dtype, shape, bytes)| {
            (
                key.to_string(),
                TensorView::new(*dtype, shape.clone(), bytes).unwrap(),
            )
        })
        .collect();
    let path = dir.join(name);
    safetensors::serialize_to_file(views, None, &path).unwrap();
    path
}

fn f32_bytes(n: usize) -> Vec<u8> {
    (0..n)
        .flat_map(|i| (i as f32 * 0.01).to_le_bytes())
        .collect()
}

/// The MLP fixture's tensors, with `change` applied to the list.
fn mlp_tensors(change: impl FnOnce(&mut Vec<RawTensor>)) -> Vec<RawTensor> {
    let mut list: Vec<RawTensor> = [
        ("hidden.0.weight", vec![16, 4]),
        ("hidden.0.bias", vec![16]),
        ("hidden.1.weight", vec![8, 16]),
        ("hidden.1.bias", vec![8]),
        ("output.weight", vec![3, 8]),
        ("output.bias", vec![3]),
    ]
    .into_iter()
    .map(|(key, shape)| {
        let n = shape.iter().product();
        (key, Dtype::F32, shape, f32_bytes(n))
    })
    .collect();
    change(&mut list);
    list
}

#[test]
fn weight_files_that_do_not_fit_are_errors_naming_the_key() {
    let _rng = exclusive_rng();
    let device = cpu();
    let dir = tempfile::tempdir().unwrap();
    let config = fixture("mlp").model;
    let load = |path: &Path, renames: &KeyRenames| {
        model_from_pytorch(&config, path, renames, &device)
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    let none = KeyRenames::default();

    let fits = safetensors_file(dir.path(), "fits.safetensors", &mlp_tensors(|_| {}));
    load(&fits, &none).unwrap();

    let cases: Vec<(&str, Vec<RawTensor>, &str)> = vec![
        (
            "missing",
            mlp_tensors(|l| {
                l.remove(4);
            }),
            "missing key `output.weight` (a [3, 8] tensor)",
        ),
        (
            "unexpected",
            mlp_tensors(|l| l.push(("hidden.2.weight", Dtype::F32, vec![2], f32_bytes(2)))),
            "unexpected key `hidden.2.weight`",
        ),
        (
            "shape",
            mlp_tensors(|l| l[0] = ("hidden.0.weight", Dtype::F32, vec![4, 16], f32_bytes(64))),
            "`hidden.0.weight` is [4, 16] but the model needs [16, 4]",
        ),
        (
            "integers",
            mlp_tensors(|l| l[5] = ("output.bias", Dtype::I32, vec![3], vec![0; 12])),
            "`output.bias` holds I32 values, not floating-point weights",
        ),
    ];
    for (case, tensors, message) in cases {
        let path = safetensors_file(dir.path(), &format!("{case}.safetensors"), &tensors);
        let error = load(&path, &none).unwrap_err();
        assert!(error.contains(message), "{case}: {error}");
        assert!(
            error.contains(&path.display().to_string()),
            "{case}: {error}"
        );
    }

    // f64 and f16 weights load, as f32.
    let doubles = mlp_tensors(|l| {
        for (_, dtype, shape, bytes) in l.iter_mut() {
            let n: usize = shape.iter().product();
            *dtype = Dtype::F64;
            *bytes = (0..n)
                .flat_map(|i| (i as f64 * 0.01).to_le_bytes())
                .collect();
        }
    });
    let path = safetensors_file(dir.path(), "f64.safetensors", &doubles);
    let from_doubles = model_from_pytorch(&config, &path, &none, &device).unwrap();
    let from_floats = model_from_pytorch(&config, &fits, &none, &device).unwrap();
    let rows = fixture("mlp").inputs;
    assert!(
        max_difference(
            &outputs(&from_doubles, &rows, &device),
            &outputs(&from_floats, &rows, &device)
        ) < 1e-6
    );

    // nn.Sequential's keys, renamed by rules as --map-key takes them.
    let sequential = mlp_tensors(|l| {
        for (key, ..) in l.iter_mut() {
            *key = match *key {
                "hidden.0.weight" => "0.weight",
                "hidden.0.bias" => "0.bias",
                "hidden.1.weight" => "2.weight",
                "hidden.1.bias" => "2.bias",
                "output.weight" => "4.weight",
                _ => "4.bias",
            }
        }
    });
    let path = safetensors_file(dir.path(), "sequential.safetensors", &sequential);
    let error = load(&path, &none).unwrap_err();
    assert!(
        error.contains("unexpected key `0.weight`")
            && error.contains("missing key `hidden.0.weight`"),
        "{error}"
    );
    let rules = ["^0\\.=hidden.0.", "^2\\.=hidden.1.", "^4\\.=output."]
        .into_iter()
        .map(|r| KeyRenames::parse_rule(r).unwrap())
        .collect();
    load(&path, &KeyRenames(rules)).unwrap();
    assert!(
        KeyRenames::parse_rule("(=x")
            .unwrap_err()
            .contains("not a valid regex")
    );
    assert!(
        KeyRenames::parse_rule("no-equals")
            .unwrap_err()
            .contains("FROM=TO")
    );
}

#[test]
fn unreadable_weight_files_are_errors_not_crashes() {
    let _rng = exclusive_rng();
    let device = cpu();
    let dir = tempfile::tempdir().unwrap();
    let config = fixture("mlp").model;
    let good = std::fs::read(fixture_path("mlp", "safetensors")).unwrap();
    let pickle = std::fs::read(fixture_path("mlp", "pt")).unwrap();
    let mut lying_header = good.clone();
    // The header's length field claims more than the file has.
    lying_header[..8].copy_from_slice(&(1u64 << 40).to_le_bytes());
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "empty.safetensors",
            Vec::new(),
            "not a readable safetensors file",
        ),
        (
            "garbage.safetensors",
            b"not weights at all".repeat(10),
            "not a readable safetensors file",
        ),
        (
            "truncated.safetensors",
            good[..good.len() - 100].to_vec(),
            "not a readable safetensors file",
        ),
        (
            "header.safetensors",
            lying_header,
            "not a readable safetensors file",
        ),
        (
            "garbage.pt",
            b"PK\x03\x04 not a zip".to_vec(),
            "not a readable PyTorch (.pt) file",
        ),
        (
            "truncated.pt",
            pickle[..pickle.len() / 2].to_vec(),
            "not a readable PyTorch (.pt) file",
        ),
        (
            "weights.bin",
            good.clone(),
            "must be a .safetensors, .pt or .pth file",
        ),
    ];
    for (name, bytes, message) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let error = model_from_pytorch(&config, &path, &KeyRenames::default(), &device)
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(error.contains(message), "{name}: {error}");
    }
    let missing = dir.path().join("absent.pt");
    let error = model_from_pytorch(&config, &missing, &KeyRenames::default(), &device)
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(error.contains("absent.pt"), "{error}");
}

#[cfg(feature = "onnx")]
mod onnx {
    use super::*;

    /// The Python with onnxruntime that `.ci/run` installs, or `BURN_ZOO_ONNX_PYTHON`.
    fn onnx_python() -> Option<PathBuf> {
        let python = std::env::var_os("BURN_ZOO_ONNX_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/var/tmp/burn-zoo-onnx/bin/python"));
        let works = std::process::Command::new(&python)
            .args(["-c", "import onnxruntime"])
            .output()
            .is_ok_and(|o| o.status.success());
        match works {
            true => Some(python),
            false if std::env::var_os("CI").is_some() => {
                panic!(
                    "CI must run the ONNX check: no onnxruntime for {}",
                    python.display()
                )
            }
            false => {
                zoo_tests::not_run(
                    &format!(
                        "the ONNX exports in onnxruntime (none for {})",
                        python.display()
                    ),
                    "`.ci/run` installs it there, or set BURN_ZOO_ONNX_PYTHON",
                );
                None
            }
        }
    }

    #[test]
    fn onnx_exports_run_in_onnxruntime_with_the_zoos_outputs() {
        let _rng = exclusive_rng();
        let device = cpu();
        let dir = tempfile::tempdir().unwrap();
        // PyTorch-trained weights, and zoo-initialised ones.
        let mut models: Vec<(String, Fixture, Model)> = zoo_models(&device)
            .into_iter()
            .map(|(name, fixture, model)| (format!("zoo-{name}"), fixture, model))
            .collect();
        for name in MODELS {
            let fixture = fixture(name);
            let path = fixture_path(name, "safetensors");
            let model =
                model_from_pytorch(&fixture.model, &path, &KeyRenames::default(), &device).unwrap();
            models.push((format!("torch-{name}"), fixture, model));
        }
        for (name, fixture, model) in &models {
            let manifest = ModelManifest::new(fixture.model.clone(), fixture.task);
            let bytes =
                interop::onnx_bytes(model, &manifest).unwrap_or_else(|e| panic!("{name}: {e}"));
            std::fs::write(dir.path().join(format!("{name}.onnx")), bytes).unwrap();
            let record = serde_json::json!({
                "model": fixture.model,
                "inputs": fixture.inputs,
                "outputs": outputs(model, &fixture.inputs, &device),
            });
            std::fs::write(dir.path().join(format!("{name}.json")), record.to_string()).unwrap();
        }
        let Some(python) = onnx_python() else { return };
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/onnx_check.py");
        let output = std::process::Command::new(python)
            .arg(script)
            .arg(dir.path())
            .output()
            .unwrap();
        let report = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{report}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(report.contains("8 ONNX exports match"), "{report}");
        eprintln!("{report}");
    }

    #[test]
    fn a_model_onnx_cannot_express_is_an_error_naming_the_operation() {
        let device = cpu();
        let config =
            ModelConfig::Mlp(MlpConfig::new(4, vec![8], 3).with_activation(ActivationKind::Gelu));
        let model = config.init(&device).unwrap();
        let manifest = ModelManifest::new(config, Task::Multiclass { n_classes: 3 });
        let error = interop::onnx_bytes(&model, &manifest)
            .unwrap_err()
            .to_string();
        assert!(
            error.ends_with("cannot express the mlp model's Gelu operation"),
            "{error}"
        );
    }
}
