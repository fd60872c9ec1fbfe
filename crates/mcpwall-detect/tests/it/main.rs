//! Integration tests of the detection engine (one test binary for the crate).

mod engine_api;
mod examples;
