//! tcpdump writing a capture file inside a test namespace. Traffic a check
//! wants captured is sent only once tcpdump says it is listening, and
//! immediate mode hands each packet to tcpdump at once: otherwise packets
//! wait in the kernel's capture ring for up to a second, and a tcpdump
//! stopped meanwhile loses them.

use crate::topology::{path, read_until_line, Process};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

/// How long tcpdump may take to start capturing on a loaded host.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// How long packets already sent get to reach the file before tcpdump stops.
const SETTLE: Duration = Duration::from_secs(1);

/// A running tcpdump; killed on drop, stopped cleanly by [`Capture::stop`].
pub struct Capture {
    process: Process,
    file: PathBuf,
}

impl Capture {
    /// Starts tcpdump on `eth0` of namespace `ns` with the BPF `filter`,
    /// writing `file`, and returns once it is capturing.
    pub fn start(ns: &str, file: PathBuf, filter: &str) -> Result<Capture, String> {
        let child = Command::new("ip")
            .args(["netns", "exec", ns, "tcpdump", "-n", "-i", "eth0"])
            .args(["--immediate-mode", "-U", "-w"])
            .arg(path(&file))
            .arg(filter)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start tcpdump: {e}"))?;
        let mut process = Process { child };
        let stderr = process.child.stderr.take().ok_or("stderr is not piped")?;
        // tcpdump prints `listening on eth0, …` once its capture is active.
        let (stderr, _) = read_until_line(stderr, "listening on", START_TIMEOUT)
            .map_err(|e| format!("tcpdump in {ns}: {e}"))?;
        // Kept open: its final statistics (a few lines) fit the pipe.
        process.child.stderr = Some(stderr);
        Ok(Capture { process, file })
    }

    /// The capture file, complete so far (`-U` writes packet by packet).
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// Lets packets in flight arrive, then stops tcpdump with SIGTERM, which
    /// flushes and closes the file, and returns the file's path. A tcpdump
    /// that has not ended 5 s later is killed when the capture drops.
    pub fn stop(mut self) -> PathBuf {
        thread::sleep(SETTLE);
        let _ = Command::new("kill")
            .arg(self.process.child.id().to_string())
            .status();
        for _ in 0..50 {
            if !matches!(self.process.child.try_wait(), Ok(None)) {
                break;
            }
            thread::sleep(Duration::from_millis(100));
        }
        self.file.clone()
    }

    /// Stops the capture and returns it as `tcpdump -n -r` prints it, with
    /// `options` (e.g. `-v`) added.
    pub fn stop_and_print(self, options: &[&str]) -> Result<String, String> {
        let file = self.stop();
        let mut args = vec!["tcpdump", "-n", "-r", path(&file)];
        args.extend_from_slice(options);
        crate::topology::sh(&args)
    }
}
