#![no_main]
//! See `check_hash_parse_verify` in fuzz/src/stores.rs for the properties.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    xmpp_extauth_fuzz::check_hash_parse_verify(data);
});
