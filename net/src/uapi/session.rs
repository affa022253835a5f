//! One client connection's byte stream, cut into requests.

use alloc::boxed::Box;
use alloc::vec;

use zeroize::Zeroize;

use super::errno::UapiError;
use super::request::{SetBuilder, SetRequest};

/// Hard limits on what one client may send; they bound the session's memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionLimits {
    /// Longest line, without its `\n`. The longest valid line is a `preshared_key` (78
    /// bytes); wireguard-go's limit is its scanner's 64 KiB.
    pub max_line_len: usize,
    /// Most lines in one `set` request (the terminating blank line not counted).
    pub max_request_lines: usize,
    /// Most bytes of parsed data one `set` request may hold
    /// ([`SetRequest::memory_used`]).
    pub max_request_memory: usize,
}

impl Default for SessionLimits {
    /// 256-byte lines, 1 Mi lines, 4 MiB of parsed data: one peer with 130,560 allowed IPs
    /// takes 0.8 MiB (IPv4) to 2.3 MiB (IPv6).
    fn default() -> SessionLimits {
        SessionLimits {
            max_line_len: 256,
            max_request_lines: 1 << 20,
            max_request_memory: 4 << 20,
        }
    }
}

/// What a client's bytes amounted to; returned by [`Session::feed`].
#[derive(Debug)]
pub enum Event {
    /// `get=1\n\n`: reply with a [`super::GetWriter`] over a fresh snapshot.
    Get,
    /// A complete, syntactically valid `set`: apply it (all or nothing, e.g. with
    /// [`super::Model::apply`]) and reply with the resulting [`super::Errno`]'s
    /// [`reply`](super::Errno::reply).
    Set(SetRequest),
    /// The request failed: reply `error.errno().reply()` now. Nothing of the request is
    /// applied; the rest of it (up to its blank line) is read and dropped by the session.
    Error(UapiError),
    /// The first line is not an operation (`get=1` or `set=1`). wireguard-go closes the
    /// connection without a reply; a virtio-serial guest cannot close the host's socket, so
    /// the session stops answering instead and drops everything until [`Session::reset`].
    Close,
}

/// The result of one [`Session::feed`] call.
#[derive(Debug)]
pub struct Fed {
    /// How many of the given bytes were used. Less than all only when `event` is set: feed
    /// the rest again once the event is handled (and its reply written).
    pub consumed: usize,
    /// A request (or a failure) completed at `consumed`.
    pub event: Option<Event>,
}

/// Where in the protocol the session is.
#[derive(Debug)]
enum State {
    /// Reading an operation line; `line` holds the part read so far.
    Operation,
    /// Read `get=1\n`; the next byte must be the blank line's `\n`.
    GetTerminator,
    /// Inside a `set`: `line` holds the current line's start.
    Set { builder: SetBuilder, lines: usize },
    /// A `set` failed: drop lines until its blank line.
    Skip { at_line_start: bool },
    /// Unknown operation: drop everything until [`Session::reset`].
    Closed,
}

const GET: &[u8] = b"get=1\n";
const SET: &[u8] = b"set=1\n";

/// The protocol state of one client connection (sans-IO).
///
/// Feed it whatever bytes arrive, in any chunking; it returns one [`Event`] per request. It
/// never buffers a request: a `set` is parsed line by line into a compact [`SetRequest`].
///
/// **Memory bound:** one line buffer of [`SessionLimits::max_line_len`] bytes, plus the
/// request being parsed, charged at most [`SessionLimits::max_request_memory`] bytes (its
/// vectors may hold up to twice that in capacity). Nothing else grows with the input.
#[derive(Debug)]
pub struct Session {
    limits: SessionLimits,
    state: State,
    line: Box<[u8]>,
    line_len: usize,
}

impl Session {
    /// A session waiting for its first request.
    pub fn new(limits: SessionLimits) -> Session {
        Session {
            limits,
            state: State::Operation,
            line: vec![0u8; limits.max_line_len.max(SET.len())].into_boxed_slice(),
            line_len: 0,
        }
    }

    /// The limits the session enforces.
    pub fn limits(&self) -> SessionLimits {
        self.limits
    }

    /// The client went away (or a new one arrived): drop any half-read request, wiping
    /// whatever secrets it held, and wait for a first request again.
    pub fn reset(&mut self) {
        self.clear_line();
        self.state = State::Operation;
    }

    /// Whether the session saw an unknown operation and now ignores its client.
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// Whether the session is between requests (nothing half-read).
    pub fn is_idle(&self) -> bool {
        matches!(self.state, State::Operation) && self.line_len == 0
    }

    fn clear_line(&mut self) {
        self.line[..self.line_len].zeroize();
        self.line_len = 0;
    }

    /// Consumes bytes from the client until a request completes or the bytes run out.
    pub fn feed(&mut self, bytes: &[u8]) -> Fed {
        let mut used = 0;
        while used < bytes.len() {
            let rest = &bytes[used..];
            let (step, event) = match self.state {
                State::Closed => (rest.len(), None),
                State::Operation => self.operation_byte(rest[0]),
                State::GetTerminator => {
                    self.state = State::Operation;
                    if rest[0] == b'\n' {
                        (1, Some(Event::Get))
                    } else {
                        // wireguard-go consumes that byte too and carries on reading.
                        (1, Some(Event::Error(UapiError::TrailingGetByte)))
                    }
                }
                State::Set { .. } => self.set_bytes(rest),
                State::Skip {
                    ref mut at_line_start,
                } => {
                    let (step, done) = skip_to_blank_line(rest, at_line_start);
                    if done {
                        self.state = State::Operation;
                    }
                    (step, None)
                }
            };
            used += step;
            if let Some(event) = event {
                if matches!(event, Event::Close) {
                    used = bytes.len();
                }
                return Fed {
                    consumed: used,
                    event: Some(event),
                };
            }
        }
        Fed {
            consumed: used,
            event: None,
        }
    }

    /// One byte of an operation line: the line must stay a prefix of `get=1\n` or `set=1\n`.
    fn operation_byte(&mut self, byte: u8) -> (usize, Option<Event>) {
        self.line[self.line_len] = byte;
        self.line_len += 1;
        let text = &self.line[..self.line_len];
        if text == GET {
            self.line_len = 0;
            self.state = State::GetTerminator;
        } else if text == SET {
            self.line_len = 0;
            self.state = State::Set {
                builder: SetBuilder::new(),
                lines: 0,
            };
        } else if !GET.starts_with(text) && !SET.starts_with(text) {
            self.clear_line();
            self.state = State::Closed;
            return (1, Some(Event::Close));
        }
        (1, None)
    }

    /// Bytes inside a `set`: at most one line's worth is used per call.
    fn set_bytes(&mut self, rest: &[u8]) -> (usize, Option<Event>) {
        let newline = rest.iter().position(|&b| b == b'\n');
        let chunk = &rest[..newline.unwrap_or(rest.len())];
        if self.line_len + chunk.len() > self.limits.max_line_len {
            self.clear_line();
            return match newline {
                Some(at) => self.fail(at + 1, true, UapiError::LineTooLong),
                None => self.fail(rest.len(), false, UapiError::LineTooLong),
            };
        }
        self.line[self.line_len..self.line_len + chunk.len()].copy_from_slice(chunk);
        self.line_len += chunk.len();
        let Some(at) = newline else {
            return (rest.len(), None);
        };
        let step = at + 1;
        if self.line_len == 0 {
            let State::Set { builder, .. } = core::mem::replace(&mut self.state, State::Operation)
            else {
                return (step, None);
            };
            return (step, Some(Event::Set(builder.finish())));
        }
        let State::Set { builder, lines } = &mut self.state else {
            return (step, None);
        };
        *lines += 1;
        let result = if *lines > self.limits.max_request_lines {
            Err(UapiError::RequestTooLarge)
        } else {
            builder.line(&self.line[..self.line_len]).and_then(|()| {
                if builder.memory_used() > self.limits.max_request_memory {
                    Err(UapiError::RequestTooLarge)
                } else {
                    Ok(())
                }
            })
        };
        self.clear_line();
        match result {
            Ok(()) => (step, None),
            Err(error) => self.fail(step, true, error),
        }
    }

    /// Drops the request being parsed and skips to its end.
    fn fail(
        &mut self,
        step: usize,
        at_line_start: bool,
        error: UapiError,
    ) -> (usize, Option<Event>) {
        self.state = State::Skip { at_line_start };
        (step, Some(Event::Error(error)))
    }
}

/// Scans for the blank line ending a request; returns the bytes used and whether it ended.
fn skip_to_blank_line(bytes: &[u8], at_line_start: &mut bool) -> (usize, bool) {
    for (index, &byte) in bytes.iter().enumerate() {
        if byte == b'\n' {
            if *at_line_start {
                return (index + 1, true);
            }
            *at_line_start = true;
        } else {
            *at_line_start = false;
        }
    }
    (bytes.len(), false)
}
