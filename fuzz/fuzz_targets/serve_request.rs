#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    let _ = zoo_apps::untrusted::serve_request(bytes);
});
