#![no_main]
//! See `check_http_verdict` in fuzz/src/stores.rs for the properties.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    xmpp_extauth_fuzz::check_http_verdict(data);
});
