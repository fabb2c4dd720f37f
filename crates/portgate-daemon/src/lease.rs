//! The lease file, in miniupnpd 2.x's format.
//!
//! One mapping per line: `PROTO:EPORT:IADDR:IPORT:EXPIRY:DESC`, where
//! `PROTO` is `TCP` or `UDP`, `EXPIRY` is an absolute unix time in seconds
//! (`0` = permanent; miniupnpd 2.x writes absolute times unless built with
//! LEASEFILE_USE_REMAINING_TIME) and `DESC` is the rest of the line (it may
//! contain `:`; miniupnpd trims blanks at both ends).
//!
//! Compatibility with miniupnpd, both ways:
//! - miniupnpd reads lines with a 128-byte buffer, so every line we write is
//!   at most [`LEASE_LINE_MAX`] bytes including the newline (the description
//!   is cut to fit); a longer line would be split and its tail misread.
//! - The remote host restriction has no field in this format. We write it as
//!   an extra line *before* the entry, `#portgate-rhost PROTO EPORT ADDR`,
//!   which holds no `:` so miniupnpd skips it (logging "unrecognized data")
//!   and reads the entry that follows unchanged.
//! - Likewise a mapping made over NAT-PMP or PCP is preceded by
//!   `#portgate-origin PROTO EPORT natpmp` or `#portgate-origin PROTO EPORT pcp
//!   NONCE` (24 hex digits), so that after a restart NAT-PMP's "delete all" still
//!   finds it and PCP still asks for the same nonce; an entry without one is UPnP's.
//! - In CGN mode a mapping is on one address of the pool, and the same protocol and
//!   port can be mapped on several of them: its entry is preceded by
//!   `#portgate-ext PROTO EPORT ADDR` (the pool address) and its removal is
//!   `#portgate-del PROTO EPORT ADDR`. Only CGN mode writes these; miniupnpd skips
//!   the tag lines (no `:`) but would read the entries as mappings on its one
//!   address, so a CGN lease file is not meant for miniupnpd.
//!
//! - Between full rewrites the daemon appends to the file as a journal
//!   ([`append`]): a changed mapping is its new line (the later line for a
//!   key wins), a removed one is a `#portgate-del PROTO EPORT` line (no `:`,
//!   skipped by miniupnpd). That keeps the cost of one change independent of
//!   the number of mappings; the file is compacted (rewritten whole) when the
//!   journal grows past the live entries and on clean shutdown, so a file at
//!   rest after a clean stop is plain miniupnpd format.
//!
//! The core here is sans-IO (`now` passed in); [`write_atomic`], [`append`],
//! [`sync`] and [`read_file`] are the only functions touching the file system,
//! reached by the gateway through the [`LeaseStore`] trait ([`FileStore`]; tests
//! use [`MemoryStore`]). [`Journal`] is the append/sync/compact discipline that
//! `lease_file` and `lease_file6` (IPv6 pinholes) share.

use std::fmt::Write as _;
use std::io::{self, Write as _};
use std::net::Ipv4Addr;
use std::path::Path;

use crate::table::{sanitize_description, Mapping, Nonce, Origin, Protocol};

/// Longest line we write, bytes including `\n`: miniupnpd's reader uses a
/// 128-byte buffer (127 characters plus the NUL).
pub const LEASE_LINE_MAX: usize = 127;
/// Longest line we read, bytes; longer lines are skipped as garbage.
pub const LEASE_LINE_READ_MAX: usize = 4096;
/// Largest lease file we read, bytes: a million CGN mappings made over PCP (three
/// lines each, about 130 bytes) with room for the journal's slack.
pub const LEASE_FILE_MAX: u64 = 256 << 20;

const RHOST_TAG: &str = "#portgate-rhost";
const ORIGIN_TAG: &str = "#portgate-origin";
const DEL_TAG: &str = "#portgate-del";
const EXT_TAG: &str = "#portgate-ext";

/// The key of a lease: pool address (CGN mode), protocol, external port.
type LeaseKey = (Option<Ipv4Addr>, Protocol, u16);

/// One persisted mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseEntry {
    /// Protocol.
    pub protocol: Protocol,
    /// External port (1..=65535).
    pub external_port: u16,
    /// LAN host.
    pub internal_client: Ipv4Addr,
    /// Port on the LAN host.
    pub internal_port: u16,
    /// Absolute unix expiry (`None`: permanent, written `0`).
    pub expiry: Option<u64>,
    /// Description (sanitized and cut to fit when written).
    pub description: String,
    /// Remote host restriction (written on a `#portgate-rhost` line).
    pub remote_host: Option<Ipv4Addr>,
    /// Which protocol made it (NAT-PMP and PCP are written on a `#portgate-origin`
    /// line; miniupnpd's own entries are UPnP's).
    pub origin: Origin,
    /// The pool address it is on (CGN mode; written on a `#portgate-ext` line).
    pub external: Option<Ipv4Addr>,
}

impl From<&Mapping> for LeaseEntry {
    fn from(m: &Mapping) -> Self {
        LeaseEntry {
            protocol: m.protocol,
            external_port: m.external_port,
            internal_client: m.internal_client,
            internal_port: m.internal_port,
            expiry: m.expiry,
            description: m.description.clone(),
            remote_host: m.remote_host,
            origin: m.origin,
            external: m.external,
        }
    }
}

/// Why a lease line was skipped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeaseLineError {
    /// Fewer than six `:`-separated fields.
    #[error("missing fields")]
    MissingFields,
    /// Protocol other than TCP/UDP.
    #[error("unknown protocol '{0}'")]
    BadProtocol(String),
    /// A port is not 1..=65535 in decimal.
    #[error("bad port '{0}'")]
    BadPort(String),
    /// The internal address is not a dotted IPv4 address.
    #[error("bad internal address '{0}'")]
    BadAddress(String),
    /// The expiry is not a decimal number.
    #[error("bad expiry '{0}'")]
    BadExpiry(String),
    /// The line is longer than [`LEASE_LINE_READ_MAX`].
    #[error("line too long")]
    TooLong,
    /// A `#portgate-rhost` line that does not parse.
    #[error("bad remote host line")]
    BadRemoteHost,
    /// A `#portgate-origin` line that does not parse.
    #[error("bad origin line")]
    BadOrigin,
    /// A `#portgate-del` line that does not parse.
    #[error("bad removal line")]
    BadRemoval,
    /// A `#portgate-ext` line that does not parse.
    #[error("bad external address line")]
    BadExternal,
}

/// A skipped line and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedLine {
    /// 1-based line number.
    pub line: usize,
    /// Why.
    pub error: LeaseLineError,
}

/// What [`parse`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaseFile {
    /// Valid, unexpired entries, one per (protocol, external port): a later
    /// line for a key replaces an earlier one, a `#portgate-del` line removes
    /// it. In file order of the surviving lines.
    pub entries: Vec<LeaseEntry>,
    /// Number of lines that did not end up as an entry (replaced, removed,
    /// removal markers): the journal's overhead, used to decide compaction.
    pub superseded: usize,
    /// Lines skipped as bad (log each as a warning).
    pub skipped: Vec<SkippedLine>,
    /// Number of valid entries dropped because their lease ran out.
    pub expired: usize,
}

fn port(s: &str) -> Result<u16, LeaseLineError> {
    let bad = || LeaseLineError::BadPort(s.to_owned());
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match s.parse::<u16>() {
        Ok(0) | Err(_) => Err(bad()),
        Ok(p) => Ok(p),
    }
}

/// Parse one entry line (without its newline). The remote host is `None`.
pub fn parse_line(line: &str) -> Result<LeaseEntry, LeaseLineError> {
    if line.len() > LEASE_LINE_READ_MAX {
        return Err(LeaseLineError::TooLong);
    }
    let mut f = line.splitn(6, ':');
    let mut field = || f.next().ok_or(LeaseLineError::MissingFields);
    let (proto, eport, iaddr, iport, expiry) = (field()?, field()?, field()?, field()?, field()?);
    let desc = field()?;
    let protocol =
        Protocol::parse(proto).ok_or_else(|| LeaseLineError::BadProtocol(proto.to_owned()))?;
    let external_port = port(eport)?;
    let internal_client: Ipv4Addr = iaddr
        .parse()
        .map_err(|_| LeaseLineError::BadAddress(iaddr.to_owned()))?;
    let internal_port = port(iport)?;
    if expiry.is_empty() || expiry.len() > 20 || !expiry.bytes().all(|b| b.is_ascii_digit()) {
        return Err(LeaseLineError::BadExpiry(expiry.to_owned()));
    }
    let expiry: u64 = expiry
        .parse()
        .map_err(|_| LeaseLineError::BadExpiry(expiry.to_owned()))?;
    Ok(LeaseEntry {
        protocol,
        external_port,
        internal_client,
        internal_port,
        expiry: (expiry != 0).then_some(expiry),
        description: sanitize_description(desc),
        remote_host: None,
        origin: Origin::Upnp,
        external: None,
    })
}

fn parse_del(line: &str) -> Option<LeaseKey> {
    let mut w = line.strip_prefix(DEL_TAG)?.split_whitespace();
    let p = Protocol::parse(w.next()?)?;
    let e = port(w.next()?).ok()?;
    let ext = match w.next() {
        None => None,
        Some(a) => Some(a.parse().ok()?),
    };
    w.next().is_none().then_some((ext, p, e))
}

/// `TAG PROTO EPORT ADDR`: a remote host or a pool address line.
fn parse_addr_line(line: &str, tag: &str) -> Option<(Protocol, u16, Ipv4Addr)> {
    let mut w = line.strip_prefix(tag)?.split_whitespace();
    let p = Protocol::parse(w.next()?)?;
    let e = port(w.next()?).ok()?;
    let a = w.next()?.parse().ok()?;
    w.next().is_none().then_some((p, e, a))
}

fn parse_origin(line: &str) -> Option<(Protocol, u16, Origin)> {
    let mut w = line.strip_prefix(ORIGIN_TAG)?.split_whitespace();
    let p = Protocol::parse(w.next()?)?;
    let e = port(w.next()?).ok()?;
    let origin = match w.next()? {
        "natpmp" => Origin::NatPmp,
        "pcp" => Origin::Pcp {
            nonce: parse_nonce(w.next()?)?,
        },
        _ => return None,
    };
    w.next().is_none().then_some((p, e, origin))
}

fn parse_nonce(hex: &str) -> Option<Nonce> {
    if hex.len() != 24 || !hex.is_ascii() {
        return None;
    }
    let mut n = [0u8; 12];
    for (i, b) in n.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(n)
}

/// Parse a whole lease file. Bad lines are skipped (listed in
/// [`LeaseFile::skipped`]), entries whose expiry is `<= now` are dropped,
/// good ones kept; never fails.
pub fn parse(text: &str, now: u64) -> LeaseFile {
    let mut out = LeaseFile::default();
    // Slot per surviving line, and where each key's current line is.
    let mut slots: Vec<Option<LeaseEntry>> = Vec::new();
    let mut at: std::collections::HashMap<LeaseKey, usize> = std::collections::HashMap::new();
    let mut pending: Option<(Protocol, u16, Ipv4Addr)> = None;
    let mut pending_ext: Option<(Protocol, u16, Ipv4Addr)> = None;
    let mut pending_origin: Option<(Protocol, u16, Origin)> = None;
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.trim_end_matches('\r');
        if line.starts_with(DEL_TAG) {
            pending = None;
            pending_origin = None;
            pending_ext = None;
            out.superseded += 1;
            match parse_del(line) {
                Some(key) => {
                    if let Some(old) = at.remove(&key).and_then(|i| slots.get_mut(i)) {
                        *old = None;
                        out.superseded += 1;
                    }
                }
                None => out.skipped.push(SkippedLine {
                    line: line_no,
                    error: LeaseLineError::BadRemoval,
                }),
            }
            continue;
        }
        // A line about the entry that follows; a bad one is reported and forgotten.
        let mut bad = |error| {
            out.skipped.push(SkippedLine {
                line: line_no,
                error,
            })
        };
        if line.starts_with(RHOST_TAG) {
            pending = parse_addr_line(line, RHOST_TAG).or_else(|| {
                bad(LeaseLineError::BadRemoteHost);
                None
            });
            continue;
        }
        if line.starts_with(EXT_TAG) {
            pending_ext = parse_addr_line(line, EXT_TAG).or_else(|| {
                bad(LeaseLineError::BadExternal);
                None
            });
            continue;
        }
        if line.starts_with(ORIGIN_TAG) {
            pending_origin = parse_origin(line).or_else(|| {
                bad(LeaseLineError::BadOrigin);
                None
            });
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        match parse_line(line) {
            Ok(mut e) => {
                if let Some((p, port, a)) = pending.take() {
                    if p == e.protocol && port == e.external_port {
                        e.remote_host = Some(a);
                    }
                }
                if let Some((p, port, o)) = pending_origin.take() {
                    if p == e.protocol && port == e.external_port {
                        e.origin = o;
                    }
                }
                if let Some((p, port, a)) = pending_ext.take() {
                    if p == e.protocol && port == e.external_port {
                        e.external = Some(a);
                    }
                }
                let key = (e.external, e.protocol, e.external_port);
                if let Some(old) = at.remove(&key).and_then(|i| slots.get_mut(i)) {
                    *old = None;
                    out.superseded += 1;
                }
                if e.expiry.is_some_and(|t| t <= now) {
                    out.expired += 1;
                } else {
                    at.insert(key, slots.len());
                    slots.push(Some(e));
                }
            }
            Err(error) => {
                pending = None;
                pending_origin = None;
                pending_ext = None;
                tracing::debug!(line = line_no, %error, "lease line skipped");
                out.skipped.push(SkippedLine {
                    line: line_no,
                    error,
                });
            }
        }
    }
    out.entries = slots.into_iter().flatten().collect();
    out
}

/// The journal line recording that the mapping (pool address in CGN mode,
/// protocol, external port) is gone (see the module docs), newline-terminated.
pub fn format_removal(
    external: Option<Ipv4Addr>,
    protocol: Protocol,
    external_port: u16,
) -> String {
    match external {
        None => format!("{DEL_TAG} {protocol} {external_port}\n"),
        Some(a) => format!("{DEL_TAG} {protocol} {external_port} {a}\n"),
    }
}

/// Format one entry as its line(s), newline-terminated: the optional
/// remote-host line, then the entry line cut to [`LEASE_LINE_MAX`] bytes.
pub fn format_entry(e: &LeaseEntry) -> String {
    let mut out = String::new();
    format_entry_into(&mut out, e);
    out
}

/// [`format_entry`] appended to `out` (no allocation of its own for an entry
/// without a description: a compaction formats a million of them).
pub fn format_entry_into(out: &mut String, e: &LeaseEntry) {
    if let Some(a) = e.external {
        let _ = writeln!(out, "{EXT_TAG} {} {} {a}", e.protocol, e.external_port);
    }
    if let Some(rh) = e.remote_host {
        let _ = writeln!(out, "{RHOST_TAG} {} {} {rh}", e.protocol, e.external_port);
    }
    match &e.origin {
        Origin::Upnp => {}
        Origin::NatPmp => {
            let _ = writeln!(
                out,
                "{ORIGIN_TAG} {} {} natpmp",
                e.protocol, e.external_port
            );
        }
        Origin::Pcp { nonce } => {
            let _ = write!(out, "{ORIGIN_TAG} {} {} pcp ", e.protocol, e.external_port);
            for b in nonce {
                let _ = write!(out, "{b:02x}");
            }
            out.push('\n');
        }
    }
    let start = out.len();
    let _ = write!(
        out,
        "{}:{}:{}:{}:{}:",
        e.protocol,
        e.external_port,
        e.internal_client,
        e.internal_port,
        e.expiry.unwrap_or(0)
    );
    if !e.description.is_empty() {
        let room = LEASE_LINE_MAX.saturating_sub(out.len() - start + 1);
        let desc = sanitize_description(&e.description);
        let mut cut = desc.len().min(room);
        while !desc.is_char_boundary(cut) {
            cut -= 1;
        }
        out.push_str(desc.get(..cut).unwrap_or("").trim_end());
    }
    out.push('\n');
}

/// Format a whole file.
pub fn format<'a>(entries: impl IntoIterator<Item = &'a LeaseEntry>) -> String {
    entries.into_iter().map(format_entry).collect()
}

/// Where [`write_atomic`] (and the writer thread of [`ThreadedFileStore`]) puts the
/// new text before the rename: a hidden file in the same directory.
fn temp_path(path: &Path) -> io::Result<(std::path::PathBuf, std::path::PathBuf)> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "lease path has no file name")
    })?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp{}", std::process::id()));
    Ok((dir.to_path_buf(), dir.join(tmp_name)))
}

/// Creates (or truncates) `tmp` with `contents`, fsynced.
fn write_synced(tmp: &Path, contents: &[u8]) -> io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(tmp)?;
    f.write_all(contents)?;
    f.sync_all()
}

/// Renames `tmp` over `path` and fsyncs the directory; removes `tmp` when `done`
/// (the steps before) or the rename failed.
fn install(done: io::Result<()>, tmp: &Path, path: &Path, dir: &Path) -> io::Result<()> {
    let result = done.and_then(|()| {
        std::fs::rename(tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    });
    if result.is_err() {
        let _ = std::fs::remove_file(tmp);
    }
    result
}

/// Write `contents` to `path` atomically: a temporary file in the same
/// directory, fsync, rename over `path`, fsync of the directory. A crash
/// leaves either the old or the new file, never a mix.
pub fn write_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    let (dir, tmp) = temp_path(path)?;
    install(write_synced(&tmp, contents), &tmp, path, &dir)
}

/// Append journal lines to `path` in one `write` (O_APPEND), creating the
/// file if needed. No fsync: the data is in the kernel once this returns, so
/// it survives the daemon being killed; [`sync`] bounds what a power loss
/// can take.
pub fn append(path: &Path, lines: &[u8]) -> io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)?;
    f.write_all(lines)
}

/// fsync `path` (after [`append`]s), so they survive a power loss too.
pub fn sync(path: &Path) -> io::Result<()> {
    std::fs::File::open(path)?.sync_data()
}

/// Read and parse a lease file; a missing file is an empty one.
pub fn read_file(path: &Path, now: u64) -> io::Result<LeaseFile> {
    use std::io::Read as _;
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(LeaseFile::default()),
        Err(e) => return Err(e),
    };
    let mut bytes = Vec::new();
    f.take(LEASE_FILE_MAX).read_to_end(&mut bytes)?;
    Ok(parse(&String::from_utf8_lossy(&bytes), now))
}

/// Where a lease file's text lives: the file on disk ([`FileStore`], the daemon)
/// or memory ([`MemoryStore`], tests). The gateway core writes through this and
/// nothing else, so it runs without a file system.
pub trait LeaseStore {
    /// The whole stored text; empty when there is none yet.
    fn load(&mut self) -> io::Result<String>;
    /// Append journal lines, durable against the daemon's death (not yet against
    /// power loss, see [`LeaseStore::sync`]).
    fn append(&mut self, text: &str) -> io::Result<()>;
    /// Make the appends since the last sync durable.
    fn sync(&mut self) -> io::Result<()>;
    /// Replace the whole text at once (compaction): a crash leaves the old or the
    /// new text, never a mix. A store may finish it later ([`LeaseStore::settle`]);
    /// appends made meanwhile end up after `text`.
    fn replace(&mut self, text: String) -> io::Result<()>;
    /// Finishes a replacement still under way, waiting for it when `wait`; `true`
    /// when none is left. The default has none.
    fn settle(&mut self, wait: bool) -> io::Result<bool> {
        let _ = wait;
        Ok(true)
    }
    /// What to call it in log lines.
    fn name(&self) -> String;
}

/// The text of the lease file at `path` (empty when missing), at most
/// [`LEASE_FILE_MAX`] bytes.
fn load_text(path: &Path) -> io::Result<String> {
    use std::io::Read as _;
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(String::new()),
        Err(e) => return Err(e),
    };
    let mut bytes = Vec::new();
    f.take(LEASE_FILE_MAX).read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// A [`LeaseStore`] on a file: [`read_file`]'s limits, [`append`], [`sync`],
/// [`write_atomic`].
#[derive(Debug, Clone)]
pub struct FileStore(pub std::path::PathBuf);

impl LeaseStore for FileStore {
    fn load(&mut self) -> io::Result<String> {
        load_text(&self.0)
    }
    fn append(&mut self, text: &str) -> io::Result<()> {
        append(&self.0, text.as_bytes())
    }
    fn sync(&mut self) -> io::Result<()> {
        sync(&self.0)
    }
    fn replace(&mut self, text: String) -> io::Result<()> {
        write_atomic(&self.0, text.as_bytes())
    }
    fn name(&self) -> String {
        self.0.display().to_string()
    }
}

/// A text this long or longer (about 8 000 leases) is written by
/// [`ThreadedFileStore`]'s thread; a shorter one at once, as [`FileStore`] does.
pub const THREADED_REWRITE_FROM: usize = 1 << 20;

/// A [`LeaseStore`] on a file whose large replacements (compactions, from
/// [`THREADED_REWRITE_FROM`] bytes) are written and fsynced by a thread of their own, so that rewriting a million leases does not
/// hold up the daemon's loop. Until the new file is in place the old one stays the
/// journal: appends still go to it (and are kept); when the thread is done
/// ([`LeaseStore::settle`]) they are appended to the new file, which is fsynced and
/// renamed over the old one. A crash at any point leaves the old file with every
/// append, or the new one with them.
#[derive(Debug)]
pub struct ThreadedFileStore {
    path: std::path::PathBuf,
    rewrite: Option<Rewrite>,
}

/// A replacement under way.
#[derive(Debug)]
struct Rewrite {
    dir: std::path::PathBuf,
    tmp: std::path::PathBuf,
    done: std::sync::mpsc::Receiver<io::Result<()>>,
    /// Appended since it began.
    tail: String,
}

impl ThreadedFileStore {
    /// A store on `path`.
    pub fn new(path: std::path::PathBuf) -> Self {
        ThreadedFileStore {
            path,
            rewrite: None,
        }
    }
}

impl LeaseStore for ThreadedFileStore {
    fn load(&mut self) -> io::Result<String> {
        self.settle(true)?;
        load_text(&self.path)
    }
    fn append(&mut self, text: &str) -> io::Result<()> {
        if let Some(r) = &mut self.rewrite {
            r.tail.push_str(text);
        }
        append(&self.path, text.as_bytes())
    }
    fn sync(&mut self) -> io::Result<()> {
        sync(&self.path)
    }
    fn replace(&mut self, text: String) -> io::Result<()> {
        // One at a time: an earlier one is finished first.
        self.settle(true)?;
        if text.len() < THREADED_REWRITE_FROM {
            return write_atomic(&self.path, text.as_bytes());
        }
        let (dir, tmp) = temp_path(&self.path)?;
        let (tx, done) = std::sync::mpsc::channel();
        let target = tmp.clone();
        std::thread::Builder::new()
            .name("lease-writer".into())
            .spawn(move || {
                let _ = tx.send(write_synced(&target, text.as_bytes()));
            })?;
        self.rewrite = Some(Rewrite {
            dir,
            tmp,
            done,
            tail: String::new(),
        });
        Ok(())
    }
    fn settle(&mut self, wait: bool) -> io::Result<bool> {
        use std::sync::mpsc::TryRecvError;
        let Some(r) = &self.rewrite else {
            return Ok(true);
        };
        let gone = || io::Error::other("the lease writer thread ended without an answer");
        let written = if wait {
            r.done.recv().unwrap_or_else(|_| Err(gone()))
        } else {
            match r.done.try_recv() {
                Ok(res) => res,
                Err(TryRecvError::Empty) => return Ok(false),
                Err(TryRecvError::Disconnected) => Err(gone()),
            }
        };
        let Some(r) = self.rewrite.take() else {
            return Ok(true);
        };
        let done = written.and_then(|()| {
            append(&r.tmp, r.tail.as_bytes())?;
            sync(&r.tmp)
        });
        install(done, &r.tmp, &self.path, &r.dir).map(|()| true)
    }
    fn name(&self) -> String {
        self.path.display().to_string()
    }
}

/// What a [`MemoryStore`] holds.
#[derive(Debug, Default)]
pub struct MemoryStoreState {
    /// The text, as a file would hold it.
    pub text: String,
    /// How much of `text` is durable (synced or replaced).
    pub durable: usize,
    /// Appends and replacements, for tests counting the work.
    pub appends: usize,
    /// Full rewrites.
    pub replaces: usize,
}

/// A [`LeaseStore`] in memory, shared with the test that made it (clone the
/// handle before boxing it into the core).
#[derive(Debug, Clone, Default)]
pub struct MemoryStore(pub std::rc::Rc<std::cell::RefCell<MemoryStoreState>>);

impl MemoryStore {
    /// The stored text.
    pub fn text(&self) -> String {
        self.0.borrow().text.clone()
    }
}

impl LeaseStore for MemoryStore {
    fn load(&mut self) -> io::Result<String> {
        Ok(self.text())
    }
    fn append(&mut self, text: &str) -> io::Result<()> {
        let mut s = self.0.borrow_mut();
        s.text.push_str(text);
        s.appends += 1;
        Ok(())
    }
    fn sync(&mut self) -> io::Result<()> {
        let mut s = self.0.borrow_mut();
        s.durable = s.text.len();
        Ok(())
    }
    fn replace(&mut self, text: String) -> io::Result<()> {
        let mut s = self.0.borrow_mut();
        s.text = text;
        s.durable = s.text.len();
        s.replaces += 1;
        Ok(())
    }
    fn name(&self) -> String {
        "memory".to_owned()
    }
}

/// The journal discipline both lease files follow (mappings and IPv6 pinholes):
/// each change is appended as lines before the client is answered; appends are
/// synced within [`crate::gateway::PERSIST_DELAY`]; expiries write nothing (an
/// expired line is dropped when read): they make the next flush compact only while
/// the table is small (a rewrite of fewer than [`crate::gateway::JOURNAL_SLACK`]
/// entries is cheap, and the file then never shows an expired lease for long) or once
/// the dead lines outnumber the live entries, so a large table is rewritten once per
/// turnover, not after every expiry; the text is compacted (rewritten whole by the owner) when the journal outgrows
/// [`crate::gateway::JOURNAL_SLACK`] and the live entries, or an append fails.
pub struct Journal {
    store: Option<Box<dyn LeaseStore>>,
    /// Lines appended since the last compaction.
    lines: usize,
    /// Appends not yet synced, since.
    unsynced_since: Option<u64>,
    /// Expiries not yet compacted away, since.
    dirty_since: Option<u64>,
    /// Entries expired since the last compaction (their lines are still stored).
    dead: usize,
    /// The owner is gathering a snapshot in steps ([`Journal::begin_compaction`]):
    /// the text appended since it began, which goes after the snapshot.
    since_snapshot: Option<String>,
    /// The store is finishing a replacement on its own: look again then.
    settle_at: Option<u64>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("store", &self.store.as_ref().map(|s| s.name()))
            .field("lines", &self.lines)
            .finish_non_exhaustive()
    }
}

impl Journal {
    /// A journal on `store` (`None`: nothing is persisted).
    pub fn new(store: Option<Box<dyn LeaseStore>>) -> Self {
        Journal {
            store,
            lines: 0,
            unsynced_since: None,
            dirty_since: None,
            dead: 0,
            since_snapshot: None,
            settle_at: None,
        }
    }

    /// The store's name for log lines.
    pub fn name(&self) -> String {
        self.store.as_ref().map(|s| s.name()).unwrap_or_default()
    }

    /// Whether anything is persisted.
    pub fn is_on(&self) -> bool {
        self.store.is_some()
    }

    /// The stored text (empty when off or missing); a read error is logged.
    pub fn load(&mut self) -> String {
        let Some(store) = &mut self.store else {
            return String::new();
        };
        store.load().unwrap_or_else(|err| {
            tracing::warn!(file = %store.name(), %err, "cannot read the lease file");
            String::new()
        })
    }

    /// Appends `text` (whole lines) at `now`, `live` entries being in the table.
    /// `false`: the owner must [`Journal::compact`] instead (the journal outgrew
    /// its slack, or the append failed).
    #[must_use]
    pub fn append(&mut self, text: &str, live: usize, now: u64) -> bool {
        let Some(store) = &mut self.store else {
            return true;
        };
        let lines = text.lines().count();
        if let Some(t) = &mut self.since_snapshot {
            // A compaction is being gathered: these lines go after its snapshot.
            t.push_str(text);
        } else if self.lines + lines > crate::gateway::JOURNAL_SLACK.max(live) {
            return false;
        }
        match store.append(text) {
            Ok(()) => {
                self.lines += lines;
                self.unsynced_since.get_or_insert(now);
                true
            }
            Err(err) => {
                tracing::warn!(file = %store.name(), %err, "lease journal append failed; rewriting");
                false
            }
        }
    }

    /// Replaces the stored text with `text`, the live entries, at `now` (a store
    /// may finish it later, see [`Journal::flush_due`]). Ends a compaction being
    /// gathered.
    pub fn compact(&mut self, text: String, now: u64) {
        self.lines = 0;
        self.dead = 0;
        self.unsynced_since = None;
        self.dirty_since = None;
        self.since_snapshot = None;
        let Some(store) = &mut self.store else {
            return;
        };
        if let Err(err) = store.replace(text) {
            tracing::error!(file = %store.name(), %err, "cannot write the lease file");
        }
        self.settle(false, now);
    }

    /// The owner starts gathering the live entries in steps (a large table): appends
    /// go on as usual and are also kept, to follow the snapshot that
    /// [`Journal::finish_compaction`] is given. Meanwhile [`Journal::flush_due`] is
    /// due at once, for the owner's next step.
    pub fn begin_compaction(&mut self) {
        if self.store.is_some() {
            self.since_snapshot.get_or_insert_with(String::new);
            self.dirty_since = None;
        }
    }

    /// Whether a compaction is being gathered.
    pub fn is_compacting(&self) -> bool {
        self.since_snapshot.is_some()
    }

    /// The owner's snapshot is complete: the stored text becomes `snapshot` followed
    /// by what was appended since [`Journal::begin_compaction`]. (An entry in both
    /// is the same key twice; the later line wins when read.)
    pub fn finish_compaction(&mut self, mut snapshot: String, now: u64) {
        if let Some(t) = self.since_snapshot.take() {
            snapshot.push_str(&t);
        }
        self.compact(snapshot, now);
    }

    /// Finishes the store's replacement if it is done (or `wait`); otherwise looks
    /// again a second later.
    fn settle(&mut self, wait: bool, now: u64) {
        self.settle_at = None;
        let Some(store) = &mut self.store else {
            return;
        };
        match store.settle(wait) {
            Ok(true) => {}
            Ok(false) => self.settle_at = Some(now.saturating_add(1)),
            Err(err) => {
                tracing::error!(file = %store.name(), %err, "cannot write the lease file");
            }
        }
    }

    /// Waits for the store's replacement (shutdown).
    pub fn wait(&mut self) {
        self.settle(true, 0);
    }

    /// `expired` entries ran out at `now`, `live` remain: compact by the flush
    /// deadline when the table is small or the dead lines outnumber the live ones
    /// (see the type's docs).
    pub fn mark_dirty(&mut self, now: u64, expired: usize, live: usize) {
        self.dead = self.dead.saturating_add(expired);
        let small = live < crate::gateway::JOURNAL_SLACK;
        if small || self.lines.saturating_add(self.dead) > live {
            self.dirty_since.get_or_insert(now);
        }
    }

    /// Whether the next flush must compact (expiries are pending).
    pub fn is_dirty(&self) -> bool {
        self.dirty_since.is_some()
    }

    /// When the owner must flush: sync appends, or compact after expiries.
    pub fn flush_due(&self) -> Option<u64> {
        if self.since_snapshot.is_some() {
            return Some(0);
        }
        [self.dirty_since, self.unsynced_since]
            .into_iter()
            .flatten()
            .min()
            .map(|t| t.saturating_add(crate::gateway::PERSIST_DELAY.as_secs()))
            .into_iter()
            .chain(self.settle_at)
            .min()
    }

    /// Finishes the store's replacement when it is done, and syncs the appends (the
    /// owner compacts instead when [`Journal::is_dirty`]).
    pub fn sync(&mut self, now: u64) {
        if self.settle_at.is_some() {
            self.settle(false, now);
        }
        if self.unsynced_since.take().is_none() {
            return;
        }
        if let Some(store) = &mut self.store {
            if let Err(err) = store.sync() {
                tracing::error!(file = %store.name(), %err, "cannot sync the lease file");
            }
        }
    }

    /// Points the journal at another store (a reload changed the path).
    pub fn set_store(&mut self, store: Option<Box<dyn LeaseStore>>) {
        self.wait();
        self.store = store;
        self.lines = 0;
        self.dead = 0;
        self.since_snapshot = None;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn expiries_compact_a_large_table_once_per_turnover() {
        use crate::gateway::JOURNAL_SLACK;
        let mut j = Journal::new(Some(Box::new(MemoryStore::default())));
        // A small table: every expiry makes the next flush compact.
        j.mark_dirty(100, 1, 10);
        assert!(j.is_dirty());
        j.compact(String::new(), 100);
        assert!(!j.is_dirty());
        // A large one: expiries accumulate until the dead lines outnumber the live.
        let live = 4 * JOURNAL_SLACK;
        j.mark_dirty(200, JOURNAL_SLACK, live);
        j.mark_dirty(201, JOURNAL_SLACK, live);
        assert!(!j.is_dirty(), "half of the file dead: not yet");
        assert_eq!(j.flush_due(), None);
        j.mark_dirty(202, 2 * JOURNAL_SLACK + 1, live);
        assert!(j.is_dirty());
        assert_eq!(
            j.flush_due(),
            Some(202 + crate::gateway::PERSIST_DELAY.as_secs())
        );
        // A compaction starts the count again.
        j.compact(String::new(), 300);
        j.mark_dirty(301, JOURNAL_SLACK, live);
        assert!(!j.is_dirty());
    }

    use super::*;
    use proptest::prelude::*;

    #[test]
    fn journal_replays_in_order() {
        let a = entry();
        let mut refreshed = entry();
        refreshed.expiry = Some(1_700_000_900);
        let mut other = entry();
        other.external_port = 9090;
        let text = format!(
            "{}{}{}{}{}",
            format_entry(&a),
            format_entry(&other),
            format_entry(&refreshed),
            format_removal(None, Protocol::Tcp, 9090),
            format_removal(None, Protocol::Udp, 1),
        );
        let f = parse(&text, 1_600_000_000);
        assert_eq!(f.entries, vec![refreshed]);
        assert!(f.skipped.is_empty());
        // a's line replaced, other's line removed, two removal markers.
        assert_eq!(f.superseded, 4);
    }

    #[test]
    fn journal_expired_later_line_removes_the_key() {
        let mut expired = entry();
        expired.expiry = Some(10);
        let text = format!("{}{}", format_entry(&entry()), format_entry(&expired));
        let f = parse(&text, 100);
        assert!(f.entries.is_empty());
        assert_eq!(f.expired, 1);
    }

    #[test]
    fn journal_append_and_reread() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("leases");
        write_atomic(&path, format_entry(&entry()).as_bytes()).unwrap();
        append(&path, format_removal(None, Protocol::Tcp, 8080).as_bytes()).unwrap();
        let mut b = entry();
        b.external_port = 8081;
        append(&path, format_entry(&b).as_bytes()).unwrap();
        sync(&path).unwrap();
        let f = read_file(&path, 0).unwrap();
        assert_eq!(f.entries, vec![b]);
    }

    #[test]
    fn bad_removal_line_is_skipped() {
        let f = parse("#portgate-del TCP\n", 0);
        assert_eq!(f.skipped.len(), 1);
        assert_eq!(f.skipped[0].error, LeaseLineError::BadRemoval);
    }

    fn entry() -> LeaseEntry {
        LeaseEntry {
            protocol: Protocol::Tcp,
            external_port: 8080,
            internal_client: Ipv4Addr::new(192, 168, 1, 10),
            internal_port: 80,
            expiry: Some(1_700_000_000),
            description: "web: server".into(),
            remote_host: None,
            origin: Origin::Upnp,
            external: None,
        }
    }

    #[test]
    fn miniupnpd_line_shape() {
        // The shape miniupnpd 2.x writes: "%s:%hu:%s:%hu:%u:%s\n".
        let e = entry();
        assert_eq!(
            format_entry(&e),
            "TCP:8080:192.168.1.10:80:1700000000:web: server\n"
        );
        let permanent = LeaseEntry {
            expiry: None,
            ..entry()
        };
        assert_eq!(
            format_entry(&permanent),
            "TCP:8080:192.168.1.10:80:0:web: server\n"
        );
        assert_eq!(parse_line("UDP:1:10.0.0.1:2:0:").unwrap().expiry, None);
        assert_eq!(
            parse_line("udp:1:10.0.0.1:2:5:a:b:c").unwrap().description,
            "a:b:c"
        );
    }

    #[test]
    fn parse_keeps_good_skips_bad_drops_expired() {
        let text = "TCP:8080:192.168.1.10:80:2000:ok\n\
                    garbage\n\
                    \n\
                    SCTP:1:10.0.0.1:1:0:x\n\
                    TCP:0:10.0.0.1:1:0:x\n\
                    TCP:65536:10.0.0.1:1:0:x\n\
                    TCP:80abc:10.0.0.1:1:0:x\n\
                    TCP:1:nas.lan:1:0:x\n\
                    TCP:1:10.0.0.1:1:-5:x\n\
                    TCP:1:10.0.0.1:1\n\
                    UDP:9:10.0.0.2:9:999:old\n\
                    UDP:10:10.0.0.2:10:0:forever\r\n\
                    TCP:1:10.0.0.1:1:99999999999999999999999:x\n\
                    #portgate-rhost nonsense\n\
                    TCP:8";
        let f = parse(text, 1000);
        assert_eq!(f.entries.len(), 2);
        assert_eq!(f.entries[0].description, "ok");
        assert_eq!(f.entries[1].description, "forever");
        assert_eq!(f.expired, 1);
        let errs: Vec<(usize, LeaseLineError)> = f
            .skipped
            .iter()
            .map(|s| (s.line, s.error.clone()))
            .collect();
        assert_eq!(
            errs,
            vec![
                (2, LeaseLineError::MissingFields),
                (4, LeaseLineError::BadProtocol("SCTP".into())),
                (5, LeaseLineError::BadPort("0".into())),
                (6, LeaseLineError::BadPort("65536".into())),
                (7, LeaseLineError::BadPort("80abc".into())),
                (8, LeaseLineError::BadAddress("nas.lan".into())),
                (9, LeaseLineError::BadExpiry("-5".into())),
                (10, LeaseLineError::MissingFields),
                (
                    13,
                    LeaseLineError::BadExpiry("99999999999999999999999".into())
                ),
                (14, LeaseLineError::BadRemoteHost),
                (15, LeaseLineError::MissingFields),
            ]
        );
    }

    #[test]
    fn natpmp_and_pcp_origins_round_trip_on_lines_miniupnpd_skips() {
        let mut pmp = entry();
        pmp.origin = Origin::NatPmp;
        let mut p = entry();
        p.external_port = 9000;
        p.origin = Origin::Pcp {
            nonce: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0xab, 0xff],
        };
        let text = format_entry(&pmp) + &format_entry(&p);
        let tags: Vec<&str> = text.lines().filter(|l| l.starts_with('#')).collect();
        assert_eq!(
            tags,
            vec![
                "#portgate-origin TCP 8080 natpmp",
                "#portgate-origin TCP 9000 pcp 00010203040506070809abff",
            ]
        );
        // No ':' on them: miniupnpd's reader skips them.
        assert!(tags.iter().all(|l| !l.contains(':')));
        assert_eq!(parse(&text, 0).entries, vec![pmp, p]);
        // For another key, bad hex, a short nonce or an unknown origin: the entry
        // stays UPnP's, and a bad line is reported.
        for bad in [
            "#portgate-origin UDP 8080 natpmp",
            "#portgate-origin TCP 8080 pcp 00010203040506070809zz00",
            "#portgate-origin TCP 8080 pcp 0001",
            "#portgate-origin TCP 8080 igd",
        ] {
            let f = parse(&format!("{bad}\nTCP:8080:192.168.1.10:80:0:x\n"), 0);
            assert_eq!(f.entries.len(), 1, "{bad}");
            assert_eq!(f.entries[0].origin, Origin::Upnp, "{bad}");
        }
        let f = parse(
            "#portgate-origin TCP 8080 igd\nTCP:8080:192.168.1.10:80:0:x\n",
            0,
        );
        assert_eq!(f.skipped[0].error, LeaseLineError::BadOrigin);
    }

    #[test]
    fn pool_address_lines_key_the_same_port_on_two_addresses() {
        let a: Ipv4Addr = "192.0.2.1".parse().unwrap();
        let b: Ipv4Addr = "192.0.2.2".parse().unwrap();
        let mut on_a = entry();
        on_a.external = Some(a);
        let mut on_b = entry();
        on_b.external = Some(b);
        on_b.internal_client = "192.168.1.11".parse().unwrap();
        let plain = entry();
        let text = format_entry(&on_a) + &format_entry(&on_b) + &format_entry(&plain);
        assert!(text.starts_with("#portgate-ext TCP 8080 192.0.2.1\n"));
        assert!(text
            .lines()
            .filter(|l| l.starts_with('#'))
            .all(|l| !l.contains(':')));
        // Three keys: the same protocol and port on two pool addresses and the
        // gateway's own address.
        assert_eq!(
            parse(&text, 0).entries,
            vec![on_a.clone(), on_b.clone(), plain.clone()]
        );
        // A removal names its address: only that one goes.
        let del = format_removal(Some(a), Protocol::Tcp, 8080);
        assert_eq!(del, "#portgate-del TCP 8080 192.0.2.1\n");
        let f = parse(&(text.clone() + &del), 0);
        assert_eq!(f.entries, vec![on_b.clone(), plain.clone()]);
        let f = parse(&(text + &format_removal(None, Protocol::Tcp, 8080)), 0);
        assert_eq!(f.entries, vec![on_a, on_b]);
        // A bad address line is reported and the entry is on the own address.
        let f = parse(
            "#portgate-ext TCP 8080 nowhere\nTCP:8080:192.168.1.10:80:0:x\n",
            0,
        );
        assert_eq!(f.skipped[0].error, LeaseLineError::BadExternal);
        assert_eq!(f.entries[0].external, None);
        assert!(
            parse("#portgate-del TCP 8080 192.0.2.1 x\n", 0)
                .skipped
                .len()
                == 1
        );
    }

    #[test]
    fn threaded_store_keeps_appends_made_while_its_thread_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("leases");
        let mut store = ThreadedFileStore::new(path.clone());
        store.append("old line\n").unwrap();
        let big = "TCP:1:10.0.0.1:1:0:x\n".repeat(THREADED_REWRITE_FROM / 20 + 1);
        store.replace(big.clone()).unwrap();
        // Until it is settled the old file is the journal, and gets the appends.
        store.append("during\n").unwrap();
        let old = std::fs::read_to_string(&path).unwrap();
        assert!(old == "old line\nduring\n" || old == format!("{big}during\n"));
        assert!(store.settle(true).unwrap());
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("{big}during\n")
        );
        store.append("after\n").unwrap();
        assert_eq!(store.load().unwrap(), format!("{big}during\nafter\n"));
        // A short text is written at once.
        store.replace("short\n".into()).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "short\n");
        assert!(store.settle(false).unwrap());
        let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file left");
    }

    #[test]
    fn hostile_lines() {
        let long = format!("TCP:1:10.0.0.1:1:0:{}", "x".repeat(LEASE_LINE_READ_MAX));
        assert_eq!(parse_line(&long), Err(LeaseLineError::TooLong));
        let e = parse_line("TCP:1:10.0.0.1:1:0:\u{1b}[31mred\u{7}").unwrap();
        assert_eq!(e.description, "[31mred");
        let f = parse("\0\0\0\n::::::\n\u{feff}TCP:1:10.0.0.1:1:0:x\n", 0);
        assert!(f.entries.is_empty());
        assert_eq!(f.skipped.len(), 3);
    }

    #[test]
    fn long_descriptions_fit_miniupnpds_buffer() {
        let e = LeaseEntry {
            protocol: Protocol::Udp,
            external_port: 65535,
            internal_client: Ipv4Addr::new(255, 255, 255, 254),
            internal_port: 65535,
            expiry: Some(u64::from(u32::MAX)),
            description: format!("{}\nsecond line", "é".repeat(200)),
            remote_host: None,
            origin: Origin::Upnp,
            external: None,
        };
        let line = format_entry(&e);
        assert!(line.len() <= LEASE_LINE_MAX, "{}", line.len());
        assert_eq!(line.matches('\n').count(), 1);
        let back = parse_line(line.trim_end_matches('\n')).unwrap();
        assert!(back.description.chars().all(|c| c == 'é'));
    }

    #[test]
    fn remote_host_line_round_trips_and_has_no_colon() {
        let e = LeaseEntry {
            remote_host: Some(Ipv4Addr::new(203, 0, 113, 9)),
            ..entry()
        };
        let text = format_entry(&e);
        let first = text.lines().next().unwrap();
        assert_eq!(first, "#portgate-rhost TCP 8080 203.0.113.9");
        assert!(!first.contains(':'));
        assert_eq!(parse(&text, 0).entries, vec![e]);
        // A remote-host line for another key does not stick.
        let text = "#portgate-rhost UDP 1 203.0.113.9\nTCP:8080:192.168.1.10:80:0:x\n";
        assert_eq!(parse(text, 0).entries[0].remote_host, None);
    }

    #[test]
    fn atomic_write_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("upnp.leases");
        assert_eq!(read_file(&path, 0).unwrap(), LeaseFile::default());
        let entries = vec![
            entry(),
            LeaseEntry {
                external_port: 9,
                expiry: None,
                ..entry()
            },
        ];
        write_atomic(&path, format(&entries).as_bytes()).unwrap();
        write_atomic(&path, format(&entries).as_bytes()).unwrap();
        assert_eq!(read_file(&path, 0).unwrap().entries, entries);
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file left behind");
        assert_eq!(read_file(&path, 1_700_000_000).unwrap().entries.len(), 1);
    }

    proptest! {
        #[test]
        fn line_round_trip(
            udp in any::<bool>(), eport in 1u16.., addr in any::<u32>(), iport in 1u16..,
            expiry in proptest::option::of(1u64..=u64::from(u32::MAX)),
            desc in "[ -~]{0,60}", rh in proptest::option::of(any::<u32>()),
        ) {
            let e = LeaseEntry {
                protocol: if udp { Protocol::Udp } else { Protocol::Tcp },
                external_port: eport,
                internal_client: Ipv4Addr::from(addr),
                internal_port: iport,
                expiry,
                description: desc.trim().to_owned(),
                remote_host: rh.map(Ipv4Addr::from),
                origin: Origin::Upnp,
                external: None,
            };
            let text = format_entry(&e);
            prop_assert!(text.lines().all(|l| l.len() < LEASE_LINE_MAX));
            let f = parse(&text, 0);
            prop_assert_eq!(f.entries, vec![e]);
        }

        #[test]
        fn garbage_never_panics(text in "(?s).{0,300}") {
            let f = parse(&text, 0);
            prop_assert!(f.entries.len() + f.skipped.len() <= text.lines().count());
        }
    }
}
