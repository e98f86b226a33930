//! Every protocol and crypto decoder on arbitrary bytes (see `kms_protocol::fuzz::decoders`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kms_protocol::fuzz::decoders(data));
