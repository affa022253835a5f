//! WireGuard's cross-platform userspace API (the `get=1` / `set=1` text protocol
//! wireguard-go serves on `/var/run/wireguard/<name>.sock`), sans-IO.
//!
//! The gateway serves it over a virtio-serial port so that an unmodified `wg(8)` manages the
//! running gateway. This module is the protocol only; the driver moves bytes and reports
//! connects and disconnects, the engine applies [`Change`]s and reports counters.
//!
//! * [`Session`]: one client connection's byte stream, fed in arbitrary chunks, cut into
//!   [`Event`]s: a `get`, a parsed [`SetRequest`], an error to answer, or "close".
//! * [`SetRequest`]: a validated `set` (device operations, then per-peer operations in
//!   order), stored compactly; nothing of the text is kept.
//! * [`Model`]: the configuration; [`Model::apply`] applies a `set` all or nothing with
//!   wireguard-go's semantics and enforces [`ModelLimits`], returning the [`Change`]s.
//! * [`Snapshot`] and [`GetWriter`]: the `get` reply, streamed into a buffer of any size.
//!
//! # Use by the kernel glue
//!
//! ```ignore
//! // PORT_OPEN 1 or 0 from the device: a client came or went.
//! session.reset(); get = None;
//!
//! // Bytes from the port (any chunking). Feed only while no reply is pending, so that
//! // replies leave in request order; unconsumed bytes wait for the next round.
//! while !input.is_empty() && get.is_none() {
//!     let fed = session.feed(input);
//!     input = &input[fed.consumed..];
//!     match fed.event {
//!         None => {}
//!         Some(Event::Get) => {
//!             let snapshot = model.snapshot(|key| engine_runtime(key), drop_counters());
//!             get = Some(GetWriter::new(snapshot));
//!         }
//!         Some(Event::Set(request)) => {
//!             let errno = match model.apply(&request) {
//!                 // The glue follows the changes; after `ListenPort(0)` it picks a
//!                 // port and records it with `model.set_listen_port`.
//!                 Ok(changes) => { engine.apply(&mut model, &changes); Errno::OK }
//!                 Err(error) => error.errno(),
//!             };
//!             port.write(errno.reply().as_bytes());
//!         }
//!         Some(Event::Error(error)) => port.write(error.errno().reply().as_bytes()),
//!         Some(Event::Close) => {} // no reply; the session ignores the client until reset
//!     }
//! }
//! // Whenever the transmit queue has room:
//! if let Some(writer) = &mut get {
//!     let n = writer.fill(&mut tx_buffer);
//!     port.write(&tx_buffer[..n]);
//!     if writer.is_done() { get = None; }
//! }
//! ```
//!
//! # Memory bounds
//!
//! * A [`Session`]: its line buffer ([`SessionLimits::max_line_len`], 256 bytes by default)
//!   and the `set` being parsed, charged at most [`SessionLimits::max_request_memory`]
//!   (4 MiB by default; vectors may hold up to twice their charge). A `set` of one peer
//!   with 130,560 allowed IPs takes 6 bytes per IPv4 and 18 per IPv6 prefix (0.8–2.3 MiB);
//!   its 2.6 MB of text are never buffered. Garbage costs nothing: an unknown first line
//!   closes the session, and the rest of a failed `set` is skipped without storing it.
//! * [`Model::apply`]: the undo log, at most [`ModelLimits::max_undo_memory`] (4 MiB by
//!   default). Appending fresh prefixes, replacing lists and removing peers log a constant
//!   amount; only prefixes moved between peers or removed one by one cost a record each.
//! * The [`Model`] itself is bounded by [`ModelLimits::max_peers`] and
//!   [`ModelLimits::max_allowed_ips`], checked at every step of a `set`.
//! * A `get`: the [`Snapshot`] (18 bytes per allowed IP) plus a 160-byte line buffer.
//!
//! # Fidelity to wireguard-go (`device/uapi.go`, snapshot f333402, 2025-05)
//!
//! Matched: the operation lines (`get=1\n` then `\n`, `set=1\n`), an unknown operation
//! closing the connection without a reply, `-EINVAL` for a byte other than `\n` after
//! `get=1\n`, `-EPROTO` for a line without `=`, `-EINVAL` for unknown keys, bad values,
//! device keys after the first `public_key` and peer keys before it; keys as 64 hex digits
//! of either case (written lowercase); an all-zero `private_key` removing the key, a
//! private key stored clamped, setting the key we already have doing nothing, a new key
//! removing the peer that has its public key; `replace_peers`, `update_only`, `remove` and
//! `replace_allowed_ips` accepting only `true`; a `public_key` equal to our own (all zeros
//! without a private key) selecting a placeholder whose lines are checked but not applied;
//! `update_only` removing a peer the block created; prefixes owned by one peer at a time,
//! a re-added prefix moving to the end of the peer's list, `allowed_ip=-prefix` removing it
//! only from the peer that has it; `protocol_version` only `1`; numbers as Go's
//! `ParseUint` (leading zeros allowed, no sign); the `get` key order and formats, with
//! `protocol_version=1` and `errno=0`.
//!
//! Deliberately different:
//! * A `set` is all or nothing (wireguard-go applies line by line and stops at the first
//!   error). The error is still answered at once, but the rest of the request is read up to
//!   its blank line and dropped, so the connection stays usable (wireguard-go reads the
//!   leftover lines as operations and closes the connection).
//! * Limits: lines over 256 bytes and requests over the session's limits get `-EIO` (as a
//!   line over wireguard-go's 64 KiB scanner buffer does); too many peers or allowed IPs get
//!   `-EINVAL` (wireguard-go's answer to "too many peers"; it has no allowed-IPs limit).
//! * Endpoints with a zone (`[fe80::1%eth0]:1`) or port 0 are refused with `-EINVAL`.
//! * Peers are reported in the order they were added (wireguard-go: map order, random).
//! * Several `preshared_key` lines in one block keep the last (the same result).
//! * `keepalive_turned_on` compares the interval before and after the whole `set`
//!   (wireguard-go looks at the last `persistent_keepalive_interval` line of a block).
//! * `listen_port` and `fwmark` changes are reported only when the value changes.

mod errno;
mod get;
mod model;
mod request;
mod session;
mod snapshot;
mod text;

pub use errno::{Errno, ErrnoReply, Key, UapiError};
pub use get::GetWriter;
pub use model::{Change, Model, ModelLimits, PeerChanges, PeerRuntime, PeerView};
pub use request::{DeviceOp, PeerBlock, PeerOp, PeerOps, SetRequest};
pub use session::{Event, Fed, Session, SessionLimits};
pub use snapshot::{PeerSnapshot, Snapshot, EXTENSION_PREFIX, MAX_EXTENSION_NAME};
