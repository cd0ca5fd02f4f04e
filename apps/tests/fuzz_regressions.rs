//! Every input the fuzz targets (fuzz/) found, and their seeds, run through the same loaders
//! on the stable toolchain: each must end in a result or an error, never a panic. The inputs
//! are committed in `fuzz/regressions/TARGET/` and `fuzz/seeds/TARGET/`.

use std::path::Path;

use zoo_apps::untrusted::TARGETS;

fn inputs(folder: &str, target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz")
        .join(folder)
        .join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
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
