#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    let _ = zoo_apps::untrusted::torch_weights(bytes);
});
