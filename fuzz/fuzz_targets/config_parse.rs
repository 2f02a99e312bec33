#![no_main]
//! See `check_config_parse` in fuzz/src/lib.rs for the properties.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    xmpp_extauth_fuzz::check_config_parse(data);
});
