#![no_main]
//! See `check_users_file_parse` in fuzz/src/stores.rs for the properties.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    xmpp_extauth_fuzz::check_users_file_parse(data);
});
