//! Every committed fuzz input, replayed through its target's body: the
//! minimised corpora (`fuzz/corpus/<target>/`) and the inputs of past
//! findings (`fuzz/regressions/<target>/`). A finding, once committed,
//! stays found. Also checks that the seeds reach what they were written
//! for, so that fuzzing starts deep.
//!
//! `WGATE_WRITE_SEEDS=1 cargo test -p gateway-fuzz --test corpus write_seeds`
//! writes the seeds into `fuzz/corpus/<target>/` (see README, "Fuzzing").

use std::fs;
use std::path::{Path, PathBuf};

use fuzz_bodies::{engine_run, firmware_run, gateway_run, seeds::seeds, uapi_run, wg_run, TARGETS};

fn dir(kind: &str, target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(kind)
        .join(target)
}

/// The files of one directory, sorted (none if it does not exist).
fn inputs(path: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let Ok(entries) = fs::read_dir(path) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let bytes = fs::read(&p).expect("readable");
            (p, bytes)
        })
        .collect()
}

fn replay(kind: &str) -> usize {
    let mut total = 0;
    for (target, body) in TARGETS {
        for (path, bytes) in inputs(&dir(kind, target)) {
            let result = std::panic::catch_unwind(|| body(&bytes));
            assert!(result.is_ok(), "{target}: {} fails", path.display());
            total += 1;
        }
    }
    total
}

#[test]
fn committed_corpora_pass() {
    let n = replay("corpus");
    // Every target has a committed corpus.
    for (target, _) in TARGETS {
        assert!(
            !inputs(&dir("corpus", target)).is_empty(),
            "no corpus for {target}"
        );
    }
    eprintln!("{n} corpus inputs replayed");
}

#[test]
fn past_findings_stay_fixed() {
    let n = replay("regressions");
    eprintln!("{n} regression inputs replayed");
}

#[test]
fn seeds_pass_and_reach_deep() {
    for (target, body) in TARGETS {
        let seeds = seeds(target);
        assert!(!seeds.is_empty(), "no seeds for {target}");
        for seed in &seeds {
            body(seed);
        }
    }
    // Every message type is accepted by the gateway's step for it.
    let outcomes: Vec<_> = seeds("wg_messages").iter().map(|s| wg_run(s)).collect();
    assert!(outcomes.iter().all(|o| o.accepted), "{outcomes:?}");
    // The engine seeds complete handshakes both ways and carry data both ways.
    let runs: Vec<_> = seeds("engine_receive")
        .iter()
        .map(|s| engine_run(s))
        .collect();
    assert!(runs.iter().any(|r| r.initiations_accepted > 0), "{runs:?}");
    assert!(runs.iter().any(|r| r.responses_accepted > 0), "{runs:?}");
    assert!(runs.iter().any(|r| r.delivered_by_gateway >= 2), "{runs:?}");
    assert!(runs.iter().any(|r| r.delivered_by_peer >= 1), "{runs:?}");
    // The whole-loop seeds carry packets both ways (beyond the liveness
    // check's one each) and make the gateway cut a GSO frame.
    let runs: Vec<_> = seeds("gateway_frames")
        .iter()
        .map(|s| gateway_run(s))
        .collect();
    assert!(runs.iter().any(|r| r.delivered_to_peer >= 3), "{runs:?}");
    assert!(runs.iter().any(|r| r.delivered_to_lan >= 2), "{runs:?}");
    assert!(runs.iter().any(|r| r.gso_frames >= 1), "{runs:?}");
    // The configuration seeds parse (but the broken one).
    let parsed = seeds("config_parser")
        .iter()
        .filter(|s| net::config::parse("seed.conf", std::str::from_utf8(s).expect("UTF-8")).is_ok())
        .count();
    assert_eq!(parsed, 3);
    // The API seeds get a set accepted that adds a peer, one refused, and
    // get replies read whole and checked against the engine.
    let runs: Vec<_> = seeds("uapi").iter().map(|s| uapi_run(s)).collect();
    assert!(runs.iter().any(|r| r.sets_adding_peers > 0), "{runs:?}");
    assert!(runs.iter().any(|r| r.errors > 0), "{runs:?}");
    assert!(runs.iter().all(|r| r.get_replies > 0), "{runs:?}");
    assert!(
        runs.iter().map(|r| r.sets_accepted).sum::<usize>() >= 3,
        "{runs:?}"
    );
    // The firmware seeds find q35's ECAM window (through the RSDT and the
    // XSDT), walk virtio-net's whole capability list and decode its MSI-X,
    // and meet a loop.
    let runs: Vec<_> = seeds("firmware").iter().map(|s| firmware_run(s)).collect();
    let windows = runs
        .iter()
        .filter(|r| {
            r.window
                .is_some_and(|w| w.base == 0xb000_0000 && w.end_bus == 255)
        })
        .count();
    assert_eq!(windows, 2, "{runs:?}");
    assert!(
        runs.iter()
            .any(|r| r.capabilities == 6 && r.defect.is_none() && r.msix_decoded == 1),
        "{runs:?}"
    );
    assert!(runs.iter().any(|r| r.defect.is_some()), "{runs:?}");
}

/// Writes the seeds into the corpus directories (run by hand).
#[test]
fn write_seeds() {
    if std::env::var_os("WGATE_WRITE_SEEDS").is_none() {
        return;
    }
    for (target, _) in TARGETS {
        let path = dir("corpus", target);
        fs::create_dir_all(&path).expect("corpus directory");
        for (i, seed) in seeds(target).iter().enumerate() {
            fs::write(path.join(format!("seed-{i}")), seed).expect("written");
        }
    }
}
