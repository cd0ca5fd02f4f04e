#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    let _ = zoo_apps::untrusted::safetensors_weights(bytes);
});
