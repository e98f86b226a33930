//! Four of the node's own round drivers under arbitrary deliveries, drops, clock jumps, crashes,
//! failed writes and insiders' messages (see `kms_protocol::fuzz::lifecycle`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kms_protocol::fuzz::lifecycle::lifecycle(data));
