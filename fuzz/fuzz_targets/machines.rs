//! The protocol state machines driven by arbitrary operation sequences (see
//! `kms_protocol::fuzz::machines`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kms_protocol::fuzz::machines(data));
