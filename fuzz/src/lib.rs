//! The bodies of wgate's fuzz targets.
//!
//! Each target is one function taking the fuzzer's bytes. It drives a parser
//! or state machine that reads bytes from outside the gateway and asserts
//! the properties that matter: nothing panics, and what is accepted is
//! consistent (a reference model for the replay window, round trips for the
//! configuration, bounds for the boot information and the firmware's tables, authenticity for the
//! engine, agreement with the engine for the userspace API). The libFuzzer harness (`fuzz/libfuzzer`, `make fuzz`) calls
//! them; `tests/corpus.rs` replays the committed corpora and regressions.
#![forbid(unsafe_code)]

mod boot_info;
mod config;
mod engine;
pub mod fake_nic;
pub mod firmware;
mod gateway;
pub mod input;
mod neighbor;
mod replay;
mod router;
pub mod seeds;
pub mod uapi;
mod wg;
mod wire;

pub use boot_info::{boot_cmdline, boot_multiboot2, boot_pvh};
pub use config::config_parser;
pub use engine::{engine_receive, engine_run, EngineRun};
pub use firmware::{firmware, firmware_run, FirmwareRun};
pub use gateway::{gateway_frames, gateway_run, FramesRun};
pub use neighbor::neighbor;
pub use replay::replay_window;
pub use router::router;
pub use uapi::{uapi, uapi_run, UapiRun};
pub use wg::{wg_messages, wg_run, WgOutcome};

/// A fuzz target: its name (the libFuzzer binary and corpus directory) and body.
pub type Target = (&'static str, fn(&[u8]));

/// Every target, by name.
pub const TARGETS: &[Target] = &[
    ("wg_messages", wg_messages),
    ("engine_receive", engine_receive),
    ("replay_window", replay_window),
    ("config_parser", config_parser),
    ("router", router),
    ("neighbor", neighbor),
    ("boot_pvh", boot_pvh),
    ("boot_multiboot2", boot_multiboot2),
    ("boot_cmdline", boot_cmdline),
    ("gateway_frames", gateway_frames),
    ("uapi", uapi),
    ("firmware", firmware),
];
