#![no_main]
//! See `check_serve_stream` in fuzz/src/lib.rs for the properties.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    xmpp_extauth_fuzz::check_serve_stream(data);
});
