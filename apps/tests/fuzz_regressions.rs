//! Every input the fuzz targets (fuzz/) found, and their seeds, run through the same loaders
//! on the stable toolchain: each must end in a result or an error, never a panic. The inputs
//! are committed in `fuzz/regressions/TARGET/` and `fuzz/seeds/TARGET/`.

use std::path::{Path, PathBuf};

use zoo_apps::untrusted::TARGETS;

fn fuzz_folder(folder: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz")
        .join(folder)
}

/// The inputs in `fuzz/FOLDER/TARGET/`, by name; none when the target has no such folder.
fn inputs(folder: &str, target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = fuzz_folder(folder).join(target);
    if !dir.exists() {
        return Vec::new();
    }
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut inputs: Vec<(String, Vec<u8>)> = entries
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    inputs.sort();
    inputs
}

#[test]
fn every_found_input_ends_in_a_result_or_an_error() {
    let mut found = 0;
    for (target, load) in TARGETS {
        for (name, bytes) in inputs("regressions", target) {
            let outcome = std::panic::catch_unwind(|| load(&bytes));
            match outcome {
                Err(_) => panic!("{target}/{name}: the loader panicked"),
                Ok(Err(message)) => assert!(!message.is_empty(), "{target}/{name}"),
                Ok(Ok(())) => {}
            }
            found += 1;
        }
    }
    // Every committed input belongs to a target that ran it: a folder named after no target,
    // or a missing `regressions` folder, would otherwise pass having run nothing.
    let root = fuzz_folder("regressions");
    let committed: usize = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|target| std::fs::read_dir(target.unwrap().path()).unwrap().count())
        .sum();
    assert!(found > 0, "no inputs in {}", root.display());
    assert_eq!(
        found,
        committed,
        "inputs in {} that no target ran",
        root.display()
    );
    eprintln!("{found} inputs found by the fuzzers ran cleanly");
}

#[test]
fn every_seed_loads() {
    for (target, load) in TARGETS {
        let seeds = inputs("seeds", target);
        assert!(!seeds.is_empty(), "{target} has no seeds");
        for (name, bytes) in seeds {
            if let Err(message) = load(&bytes) {
                panic!("{target}/{name}: a seed is a valid file, but: {message}");
            }
        }
    }
}
