//! Fuzzing entry points (see `fuzz/`): drive the decoders and the state machines with arbitrary
//! bytes. They must never panic, whatever the input.
