#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ekm_fuzz::envelope::check(data));
