//! Helpers shared by the test suites: which backends to run on, and small datasets.

use std::sync::{Mutex, MutexGuard};

use burn::prelude::Device;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha12Rng;
use zoo_models::backend::BackendKind;
use zoo_models::data::{Examples, Features, TargetData};

/// The test binaries allocate as the zoo's binaries do, so that training in-process runs at the
/// apps' speed (the `zoo_apps` crate documentation says why mimalloc).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Tells the person running `cargo test` that part of a test did not run, and how to run it.
/// Written to the process's standard error directly: the test harness captures `eprintln!`
/// of passing tests, and a skipped part must not pass silently.
pub fn not_run(what: &str, how: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "note: not run: {what}; {how}");
}

/// The compiled CPU backends with their devices; these always exist.
pub fn cpu_backends() -> Vec<(BackendKind, Device)> {
    BackendKind::compiled()
        .into_iter()
        .filter(|b| matches!(b, BackendKind::Ndarray | BackendKind::Flex))
        .map(|b| (b, b.device().expect("CPU backends always have a device")))
        .collect()
}

/// The wgpu device, if this build has wgpu and the machine an adapter. In CI (`CI` set) a
/// missing adapter fails the test, since CI installs Mesa's software Vulkan driver precisely
/// so that the GPU code paths run; elsewhere it prints one line saying what was skipped.
pub fn wgpu_device(test: &str) -> Option<Device> {
    if !BackendKind::Wgpu.is_compiled() {
        not_run(
            &format!("{test}'s wgpu part"),
            "this build has no `wgpu` feature",
        );
        return None;
    }
    match BackendKind::Wgpu.device() {
        Ok(device) => Some(device),
        Err(e) if std::env::var_os("CI").is_some() => panic!("{test}: CI must run wgpu: {e}"),
        Err(e) => {
            not_run(
                &format!("{test}'s wgpu part ({e})"),
                "a Vulkan driver runs it: `apt-get install mesa-vulkan-drivers libvulkan1`",
            );
            None
        }
    }
}

/// Holds Burn's random generators for one test at a time.
///
/// Burn's CPU backends draw weights and dropout masks from one process-wide generator per
/// backend, and `device.seed(..)` resets it. Tests run on parallel threads, so a test whose
/// outcome depends on the seeded weights or masks takes this lock for its whole run; otherwise
/// another test's `seed` or draws land in the middle of it.
pub fn exclusive_rng() -> MutexGuard<'static, ()> {
    static RNG: Mutex<()> = Mutex::new(());
    RNG.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Test data comes from a seeded generator, so every run sees the same numbers.
pub fn rng(seed: u64) -> ChaCha12Rng {
    ChaCha12Rng::seed_from_u64(seed)
}

/// `n` points per class around `k` well-separated centres in 2-D: linearly separable.
pub fn separable_blobs(n: usize, k: usize, seed: u64) -> Examples {
    let mut rng = rng(seed);
    let centres = [(-3.0, -3.0), (3.0, 3.0), (3.0, -3.0), (-3.0, 3.0)];
    let mut values = Vec::new();
    let mut labels = Vec::new();
    for i in 0..n * k {
        let class = i % k;
        let (cx, cy) = centres[class];
        values.extend([
            cx + rng.random_range(-1.0..1.0),
            cy + rng.random_range(-1.0..1.0),
        ]);
        labels.push(class);
    }
    let features = Features::new(values, 2).unwrap();
    Examples::new(
        features,
        TargetData::Classes {
            labels,
            n_classes: k,
        },
    )
    .unwrap()
}

/// `y = x · weights + bias` exactly, with `x ~ U(-1, 1)`.
pub fn linear_data(n: usize, weights: &[f32], bias: f32, seed: u64) -> Examples {
    let mut rng = rng(seed);
    let mut values = Vec::new();
    let mut targets = Vec::new();
    for _ in 0..n {
        let row: Vec<f32> = weights
            .iter()
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        targets.push(row.iter().zip(weights).map(|(x, w)| x * w).sum::<f32>() + bias);
        values.extend(row);
    }
    let features = Features::new(values, weights.len()).unwrap();
    Examples::new(
        features,
        TargetData::Values {
            values: targets,
            n_outputs: 1,
        },
    )
    .unwrap()
}
