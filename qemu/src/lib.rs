//! Host tools: run the image in QEMU, the boot-test harness, benchmarks.
//!
//! [`machine`] starts QEMU and captures the serial console line by line
//! with arrival times; [`verdict`] decides from that transcript and the exit
//! status whether a boot passed; [`scenarios`] lists the boot tests that
//! `make test` runs, including tests of the harness itself (a kernel that
//! panics, triple-faults or hangs must be reported as a failure).
#![forbid(unsafe_code)]

pub mod capture;
pub mod demo;
pub mod e2e;
pub mod gwbench;
pub mod machine;
pub mod marks_e2e;
pub mod scenarios;
pub mod stages;
pub mod topology;
pub mod uapi_e2e;
pub mod verdict;
