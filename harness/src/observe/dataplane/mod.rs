//! What a node's proxy really programmed: parsers for its rule dumps, the routes they
//! implement, and their normalization against the cluster state.
//!
//! ```text
//! iptables-save ─┐
//! nft list table ├─ parse_* ─▶ NodeRoutes ─ normalize(state) ─▶ NormalizedRoutes ─ render_* ─▶ text / JSON
//! ipvsadm -Ln   ─┘   (ip:port, probabilities)         (ns/name:port/proto, node identities)
//! ```
//!
//! The parsers read line by line, keep only kube-proxy's objects, and fail with a
//! [`DataplaneError`] naming the line on input that is not a dump, is cut short, or does not
//! hold together. They never panic.
//!
//! Large inputs use a second core where there is one: the iptables reader splits rules into
//! words on a reading thread while this one builds the chain program
//! (`for_each_line_read_ahead`), and resolving and naming routes map the frontends in two
//! halves (`map_in_halves`). Both give what one thread gives, errors included (tested, and
//! compared by the `iptables` fuzz target).
//!
//! Adding a dataplane: write a parser that returns [`NodeRoutes`] (netfilter-like ones build a
//! `routes::Program` and let it resolve probabilities), add a [`ProxyMode`], a fixture under
//! `fixtures/rules/`, and a fuzz target under `harness/fuzz/`.

pub mod compare;
mod error;
pub mod iptables;
pub mod ipvs;
mod json;
pub mod nftables;
pub mod normalize;
pub mod routes;

use std::fmt::Write as _;
use std::io::Write as _;

pub use compare::{compare_with_model, render_disagreements, Disagreement};
pub use error::DataplaneError;
pub use iptables::{parse_iptables, parse_iptables_reader};
pub use ipvs::{parse_ipvs, parse_ipvs_reader, IpvsFormat};
pub use nftables::{parse_nftables, parse_nftables_reader};
pub use normalize::{normalize, NamedShare, NormalizedFrontend, NormalizedRoutes, Normalizer};
pub use routes::{Backend, Frontend, FrontendKind, FrontendRoute, NodeRoutes, Outcome, Share};

use crate::model::state::ClusterState;
pub use crate::model::ProxyMode;

/// Output format of [`rules`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    /// One line per frontend.
    Text,
    /// The JSON contract documented in `docs/rules-json.md`.
    Json,
}

/// Calls `each` with every line of `reader` (1-based number, text without the line break).
/// Reads large chunks and hands out lines in place (no copy per line); a line longer than the
/// buffer grows it. Invalid UTF-8 or a read error is an error on the line it is found on.
/// Returns the number of lines.
pub(crate) fn for_each_line(
    reader: impl std::io::Read,
    each: impl FnMut(usize, &str) -> Result<(), DataplaneError>,
) -> Result<usize, DataplaneError> {
    for_each_line_in_chunks(reader, CHUNK_BYTES, each)
}

/// Bytes read at a time by the streaming readers.
pub(crate) const CHUNK_BYTES: usize = 1 << 18;

/// [`for_each_line`] with a chunk size of `chunk` bytes (tests use tiny ones).
pub(crate) fn for_each_line_in_chunks(
    reader: impl std::io::Read,
    chunk: usize,
    mut each: impl FnMut(usize, &str) -> Result<(), DataplaneError>,
) -> Result<usize, DataplaneError> {
    // One buffer, handed back after each chunk.
    let spare = std::cell::Cell::new(None);
    for_each_chunk(
        reader,
        chunk,
        || spare.take(),
        |first, text| {
            let count = lines_of(&text, first, |n, _, line| each(n, line))?;
            spare.set(Some(text.into_bytes()));
            Ok(count)
        },
    )
}

/// Calls `each` with runs of whole lines of `reader` (the number of the first, the text) and
/// returns the number of lines; `each` returns how many lines its text held. Invalid UTF-8 or
/// a read error is an error on the line it is found on.
///
/// Reads go straight into the buffer `each` is given; the next one comes from `spare` (a
/// buffer `each` is done with) or is new, so that handing lines to another thread copies
/// nothing but the unfinished last line of each chunk.
fn for_each_chunk(
    mut reader: impl std::io::Read,
    chunk: usize,
    mut spare: impl FnMut() -> Option<Vec<u8>>,
    mut each: impl FnMut(usize, String) -> Result<usize, DataplaneError>,
) -> Result<usize, DataplaneError> {
    let chunk = chunk.max(1);
    let mut buf = vec![0u8; chunk];
    // `buf[..filled]` holds bytes not handed out yet, starting at a line's start.
    let mut filled = 0;
    let mut lineno = 0;
    loop {
        if filled == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        let read = match reader.read(&mut buf[filled..]) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(error::syntax(lineno + 1, format!("unreadable input: {e}"))),
        };
        let end_of_input = read == 0;
        filled += read;
        // Complete lines only, unless the input ended.
        let complete = if end_of_input {
            filled
        } else {
            match memchr::memrchr(b'\n', &buf[..filled]) {
                Some(last) => last + 1,
                None => continue,
            }
        };
        // The next buffer starts with what follows the last complete line. A recycled
        // buffer keeps its length, so that only its first use is zero-filled.
        let tail = filled - complete;
        let mut next = spare().unwrap_or_default();
        if next.len() < chunk.max(tail + 1) {
            next.resize(chunk.max(tail + 1), 0);
        }
        next[..tail].copy_from_slice(&buf[complete..filled]);
        buf.truncate(complete);
        let text = match String::from_utf8(std::mem::replace(&mut buf, next)) {
            Ok(text) => text,
            Err(e) => {
                let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
                let line = lineno + 1 + memchr::memchr_iter(b'\n', valid).count();
                return Err(error::syntax(
                    line,
                    "unreadable input: stream did not contain valid UTF-8",
                ));
            }
        };
        filled = tail;
        if !text.is_empty() {
            lineno += each(lineno + 1, text)?;
        }
        if end_of_input {
            return Ok(lineno);
        }
    }
}

/// Calls `each` with the lines of `text` (number from `first`, byte offset in `text`, line
/// without its break or a trailing `\r`); returns how many there were.
fn lines_of(
    text: &str,
    first: usize,
    mut each: impl FnMut(usize, usize, &str) -> Result<(), DataplaneError>,
) -> Result<usize, DataplaneError> {
    let mut at = 0;
    let mut count = 0;
    while at < text.len() {
        let rest = &text[at..];
        let (line, next) = match memchr::memchr(b'\n', rest.as_bytes()) {
            Some(end) => (&rest[..end], at + end + 1),
            None => (rest, text.len()),
        };
        each(first + count, at, line.strip_suffix('\r').unwrap_or(line))?;
        count += 1;
        at = next;
    }
    Ok(count)
}

/// Whether a dump of `size_hint` bytes (0: unknown) is worth reading ahead on a second thread:
/// only with a second core, and not for small files, where starting a thread costs more than
/// it saves.
pub(crate) fn worth_reading_ahead(size_hint: u64) -> bool {
    (size_hint == 0 || size_hint >= 1 << 20) && second_core()
}

/// Whether there is a second core to share work with.
fn second_core() -> bool {
    static SECOND_CORE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SECOND_CORE.get_or_init(|| std::thread::available_parallelism().is_ok_and(|n| n.get() > 1))
}

/// `items.iter().map(f).collect()`, with the second half mapped on another thread when there
/// are at least `min` items and a second core (the order is kept).
pub(crate) fn map_in_halves<T: Sync, R: Send>(
    items: &[T],
    min: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    if items.len() < min.max(2) || !second_core() {
        return items.iter().map(&f).collect();
    }
    let (first, second) = items.split_at(items.len() / 2);
    std::thread::scope(|scope| {
        let later = scope.spawn(|| second.iter().map(&f).collect::<Vec<R>>());
        let mut out: Vec<R> = Vec::with_capacity(items.len());
        out.extend(first.iter().map(&f));
        match later.join() {
            Ok(rest) => out.extend(rest),
            Err(panic) => std::panic::resume_unwind(panic),
        }
        out
    })
}

/// Frontends from which resolving and naming routes is shared with a second thread.
pub(crate) const HALVES_FROM: usize = 2_000;

/// Lines read ahead on the reading thread, with what it made of them.
struct Batch<P> {
    /// The number of the first line.
    first: usize,
    /// Whole lines, as read.
    text: String,
    /// Per line: where it is in `text`, and whether the reading thread made something of it.
    lines: Vec<(std::ops::Range<usize>, bool)>,
    /// What the reading thread made of lines, in line order.
    made: Vec<P>,
    /// Text the reading thread made that is not in `text` (see [`ReadAhead::spill`]).
    spill: String,
}

/// Where the reading thread may keep text it made from a line (unescaped words).
pub(crate) struct ReadAhead<'a> {
    spill: &'a mut String,
}

impl ReadAhead<'_> {
    /// Keeps `text` for the parsing side; returns where it is in the spill (see
    /// [`Spilled::get`]).
    pub(crate) fn spill(&mut self, text: &str) -> std::ops::Range<usize> {
        let start = self.spill.len();
        self.spill.push_str(text);
        start..self.spill.len()
    }
}

/// Text kept by the reading thread for one batch of lines.
pub(crate) struct Spilled<'a>(&'a str);

impl<'a> Spilled<'a> {
    /// Text kept with [`ReadAhead::spill`] (empty when out of range, which cannot happen for
    /// ranges it returned).
    pub(crate) fn get(&self, range: std::ops::Range<usize>) -> &'a str {
        self.0.get(range).unwrap_or("")
    }
}

/// Messages from the reading thread.
enum FromReader<P> {
    Lines(Batch<P>),
    End(Result<usize, DataplaneError>),
}

/// [`for_each_line`] on two threads: a second thread reads and splits the input and calls
/// `read_ahead` on every line (work that needs no parser state), while this one calls `each`
/// with every line and what `read_ahead` made of it, in order. Errors are those of the
/// one-thread reading: `each` sees every line before a read error, and its first error stops
/// the reading thread.
pub(crate) fn for_each_line_read_ahead<R, P, A, E>(
    reader: R,
    chunk: usize,
    mut read_ahead: A,
    mut each: E,
) -> Result<usize, DataplaneError>
where
    R: std::io::Read + Send,
    P: Send,
    A: FnMut(usize, &str, &mut ReadAhead<'_>) -> Option<P> + Send,
    E: FnMut(usize, &str, Option<P>, &Spilled<'_>) -> Result<(), DataplaneError>,
{
    use std::sync::mpsc;
    // Batches in flight let the reading thread run ahead over a slow stretch; emptied
    // batches (and their text buffers) go back to be refilled, so their memory is touched
    // once.
    let (to_parser, from_reader) = mpsc::sync_channel::<FromReader<P>>(8);
    let (recycle, recycled) = mpsc::channel::<Batch<P>>();
    let (recycle_text, recycled_text) = mpsc::channel::<Vec<u8>>();
    // `move`: returning early drops the receiver, which stops a reading thread blocked on a
    // full channel before the scope waits for it.
    std::thread::scope(move |scope| {
        scope.spawn(move || {
            let spare = || recycled_text.try_recv().ok();
            let read = for_each_chunk(reader, chunk, spare, |first, text| {
                let mut batch = recycled.try_recv().unwrap_or_else(|_| Batch {
                    first,
                    text: String::new(),
                    lines: Vec::new(),
                    made: Vec::new(),
                    spill: String::new(),
                });
                batch.first = first;
                batch.text = text;
                let Batch {
                    text,
                    lines,
                    made,
                    spill,
                    ..
                } = &mut batch;
                let mut spill = ReadAhead { spill };
                let count = lines_of(text, first, |n, at, line| {
                    let read = read_ahead(n, line, &mut spill);
                    lines.push((at..at + line.len(), read.is_some()));
                    made.extend(read);
                    Ok(())
                })?;
                // The parsing side stopped (an error): stop reading.
                to_parser
                    .send(FromReader::Lines(batch))
                    .map_err(|_| error::syntax(first, "reading stopped"))?;
                Ok(count)
            });
            // Nobody may be listening any more; that is fine.
            let _ = to_parser.send(FromReader::End(read));
        });
        for message in from_reader.iter() {
            match message {
                FromReader::Lines(mut batch) => {
                    let spilled = Spilled(&batch.spill);
                    let mut made = batch.made.drain(..);
                    for (i, (range, has)) in batch.lines.drain(..).enumerate() {
                        let line = batch.text.get(range).unwrap_or("");
                        let read = if has { made.next() } else { None };
                        each(batch.first + i, line, read, &spilled)?;
                    }
                    drop(made);
                    let _ = recycle_text.send(std::mem::take(&mut batch.text).into_bytes());
                    batch.spill.clear();
                    let _ = recycle.send(batch);
                }
                FromReader::End(read) => return read,
            }
        }
        // The reading thread always ends with `End`; without it, it panicked (and the scope
        // passes the panic on).
        Err(error::syntax(
            0,
            "unreadable input: the reading thread stopped",
        ))
    })
}

/// Parses a dump read from `reader` (`size_hint`: its size when known, 0 otherwise), line by
/// line where the format allows.
pub fn parse_reader(
    mode: ProxyMode,
    reader: impl std::io::Read + Send,
    size_hint: u64,
) -> Result<NodeRoutes, DataplaneError> {
    match mode {
        ProxyMode::Iptables => iptables::parse_iptables_stream(reader, size_hint),
        ProxyMode::Nftables => {
            nftables::parse_nftables_stream(reader, usize::try_from(size_hint).unwrap_or(0))
        }
        ProxyMode::Ipvs => parse_ipvs_reader(reader, None),
        ProxyMode::None => Err(DataplaneError::NoKubeProxy),
    }
}

/// Parses a dump of the given mode into routes.
pub fn parse(mode: ProxyMode, dump: &str) -> Result<NodeRoutes, DataplaneError> {
    match mode {
        ProxyMode::Iptables => parse_iptables(dump),
        ProxyMode::Nftables => parse_nftables(dump),
        ProxyMode::Ipvs => parse_ipvs(dump),
        ProxyMode::None => Err(DataplaneError::NoKubeProxy),
    }
}

/// Renders routes as the JSON document of `docs/rules-json.md` (pretty-printed, trailing newline).
pub fn render_json(mode: ProxyMode, node: Option<&str>, routes: &NormalizedRoutes) -> String {
    render_json_with(mode, node, routes, None)
}

/// As [`render_json`], with a `disagreements` list when the routes were compared with the model.
pub fn render_json_with(
    mode: ProxyMode,
    node: Option<&str>,
    routes: &NormalizedRoutes,
    disagreements: Option<&[Disagreement]>,
) -> String {
    let mut out = Vec::new();
    // Writing plain structs of strings and finite numbers to memory cannot fail.
    let _ = write_json_with(&mut out, mode, node, routes, disagreements);
    String::from_utf8(out).unwrap_or_default()
}

/// Writes what [`render_json_with`] returns to `out` as it is serialized (a large node's
/// routes are never held as one string).
pub fn write_json_with(
    out: impl std::io::Write,
    mode: ProxyMode,
    node: Option<&str>,
    routes: &NormalizedRoutes,
    disagreements: Option<&[Disagreement]>,
) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::with_capacity(1 << 16, out);
    json::write_report(
        &mut out,
        mode.as_str(),
        node,
        &routes.frontends,
        disagreements,
    )?;
    out.flush()
}

/// The routes one line per frontend in the raw form the parsers' tests compare
/// (`frontend  kind  outcome  cluster: a=0.5 b=0.5  local: -`), in normalized order.
#[cfg(test)]
fn render_compact(routes: &NormalizedRoutes) -> String {
    let list = |list: &Option<Vec<NamedShare>>| match list {
        None => "-".to_string(),
        Some(l) if l.is_empty() => "(none)".to_string(),
        Some(l) => l
            .iter()
            .map(|s| format!("{}={}", s.endpoint, s.probability))
            .collect::<Vec<_>>()
            .join(" "),
    };
    let mut s = String::new();
    for f in &routes.frontends {
        let _ = writeln!(
            s,
            "{}  {}  {}  cluster: {}  local: {}",
            f.frontend,
            f.kind.as_str(),
            f.outcome.as_str(),
            list(&f.cluster),
            list(&f.local)
        );
    }
    s
}

/// `10.0.1.2:80 50%, 10.0.1.10:80 50%`: endpoints in address order (numerically; identities
/// by name), each with its share of new connections.
fn shares_text(list: &[NamedShare]) -> String {
    let mut sorted: Vec<&NamedShare> = list.iter().collect();
    sorted.sort_by_key(|s| address_key(&s.endpoint));
    sorted
        .iter()
        .map(|s| format!("{} {}", s.endpoint, percent(s.probability)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `50%`, `33.3%`.
fn percent(share: f64) -> String {
    let p = (share * 1000.0).round() / 10.0;
    if p.fract() == 0.0 {
        format!("{p:.0}%")
    } else {
        format!("{p:.1}%")
    }
}

/// Sorts `ip:port` (and `ip:port/proto`) numerically, `*:port` first, names after addresses.
fn address_key(text: &str) -> (u8, Option<std::net::IpAddr>, u32, String) {
    let without_proto = text.split('/').next().unwrap_or(text);
    let parsed = without_proto
        .parse::<std::net::SocketAddr>()
        .ok()
        .map(|a| (a.ip(), u32::from(a.port())));
    match (without_proto.strip_prefix("*:"), parsed) {
        (Some(port), _) => (0, None, port.parse().unwrap_or(0), text.to_string()),
        (None, Some((ip, port))) => (1, Some(ip), port, text.to_string()),
        (None, None) => (2, None, 0, text.to_string()),
    }
}

/// What a frontend does with new connections, in words: where each path leads, and what is
/// dropped or rejected and why.
fn routes_words(f: &NormalizedFrontend) -> String {
    let path = |list: &[NamedShare], empty: &str| {
        if list.is_empty() {
            empty.to_string()
        } else {
            format!("→ {}", shares_text(list))
        }
    };
    match (&f.cluster, &f.local) {
        // externalTrafficPolicy: Local: traffic from outside uses the node's own endpoints,
        // traffic from pods the whole cluster's.
        (Some(cluster), Some(local)) => format!(
            "external traffic {}; from pods {}",
            path(local, "is dropped: no endpoint on this node"),
            path(cluster, "is rejected: no endpoint")
        ),
        (None, Some(local)) => path(
            local,
            "dropped: no endpoint on this node (traffic policy Local)",
        ),
        (Some(cluster), None) => match f.outcome {
            Outcome::Reject => "rejected: the Service has no endpoint".to_string(),
            _ => path(cluster, "dropped: no endpoint"),
        },
        (None, None) => match f.outcome {
            Outcome::Reject => "rejected: the Service has no endpoint".to_string(),
            _ => "dropped: nothing to route to".to_string(),
        },
    }
}

/// Renders routes for a terminal: a header line, then one aligned line per frontend (in
/// address order) saying where its new connections go.
pub fn render_text(mode: ProxyMode, node: Option<&str>, routes: &NormalizedRoutes) -> String {
    let mut s = format!("mode: {}  node: {}\n", mode.as_str(), node.unwrap_or("-"));
    let mut frontends: Vec<&NormalizedFrontend> = routes.frontends.iter().collect();
    frontends.sort_by_key(|f| (address_key(&f.frontend), f.kind.as_str()));
    let width = |get: &dyn Fn(&NormalizedFrontend) -> usize, title: &str| {
        frontends
            .iter()
            .map(|f| get(f))
            .max()
            .unwrap_or(0)
            .max(title.chars().count())
    };
    let wf = width(&|f| f.frontend.chars().count(), "FRONTEND");
    let wk = width(&|f| f.kind.as_str().len(), "KIND");
    let wo = width(&|f| f.outcome.as_str().len(), "OUTCOME");
    if !frontends.is_empty() {
        let _ = writeln!(
            s,
            "{:<wf$}  {:<wk$}  {:<wo$}  NEW CONNECTIONS",
            "FRONTEND", "KIND", "OUTCOME"
        );
    }
    for f in frontends {
        let _ = writeln!(
            s,
            "{:<wf$}  {:<wk$}  {:<wo$}  {}",
            f.frontend,
            f.kind.as_str(),
            f.outcome.as_str(),
            routes_words(f)
        );
    }
    s
}

/// Inputs of `topo-harness rules`, already read from files.
#[derive(Clone, Debug)]
pub struct RulesRequest<'a> {
    /// Which proxy mode the dump is from.
    pub mode: ProxyMode,
    /// The node the dump was taken on, echoed in the output.
    pub node: Option<&'a str>,
    /// Output format.
    pub format: OutputFormat,
    /// Cluster state to name frontends and endpoints with.
    pub state: Option<&'a ClusterState>,
}

/// `topo-harness rules`: parse a dump, normalize it, render it.
pub fn rules(dump: &str, request: &RulesRequest<'_>) -> Result<String, DataplaneError> {
    let routes = parse(request.mode, dump)?;
    let normalized = normalize(&routes, request.state);
    Ok(match request.format {
        OutputFormat::Text => render_text(request.mode, request.node, &normalized),
        OutputFormat::Json => render_json(request.mode, request.node, &normalized),
    })
}

#[cfg(test)]
mod line_tests {
    use super::{error::DataplaneError, for_each_line_in_chunks};

    /// A reader that hands out at most `step` bytes per call.
    struct Trickle<'a> {
        bytes: &'a [u8],
        step: usize,
    }

    impl std::io::Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.bytes.len());
            buf[..n].copy_from_slice(&self.bytes[..n]);
            self.bytes = &self.bytes[n..];
            Ok(n)
        }
    }

    fn lines(
        bytes: &[u8],
        chunk: usize,
        step: usize,
    ) -> Result<Vec<(usize, String)>, DataplaneError> {
        let mut seen = Vec::new();
        let count = for_each_line_in_chunks(Trickle { bytes, step }, chunk, |n, line| {
            seen.push((n, line.to_string()));
            Ok(())
        })?;
        assert_eq!(count, seen.len());
        Ok(seen)
    }

    /// Lines across chunk ends, lines longer than a chunk (the buffer grows), CRLF, a last
    /// line without a break, empty lines: the same lines as `str::lines`, for every chunk
    /// size and read size.
    #[test]
    fn chunked_lines_are_the_lines_of_the_text() {
        let text = "*nat\r\n:KUBE-SERVICES - [0:0]\n\n-A KUBE-SVC-ABCDEFGHIJKLMNOP -m comment --comment \"ns/svc:http\" -j KUBE-SEP-X\nü€\nCOMMIT";
        let want: Vec<(usize, String)> = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.to_string()))
            .collect();
        for chunk in [1, 2, 3, 7, 16, 64, 1 << 18] {
            for step in [1, 2, 5, 1000] {
                assert_eq!(
                    lines(text.as_bytes(), chunk, step).unwrap(),
                    want,
                    "{chunk}/{step}"
                );
            }
        }
        assert_eq!(lines(b"", 4, 1).unwrap(), vec![]);
        assert_eq!(lines(b"\n", 4, 1).unwrap(), vec![(1, String::new())]);
    }

    /// The halves are mapped in order, whatever the length (and whether a thread is used).
    #[test]
    fn mapping_in_halves_keeps_the_order() {
        for len in [0, 1, 2, 3, 10, 1001] {
            let items: Vec<usize> = (0..len).collect();
            for min in [0, 2, 5, 100_000] {
                let mapped = super::map_in_halves(&items, min, |i| i * 3);
                assert_eq!(mapped, items.iter().map(|i| i * 3).collect::<Vec<_>>());
            }
        }
    }

    /// Invalid UTF-8 is reported on its own line, wherever chunks end.
    #[test]
    fn invalid_utf8_names_its_line() {
        let bytes = b"one\ntwo\nth\xffree\nfour\n";
        for chunk in [1, 3, 8, 1 << 18] {
            let err = lines(bytes, chunk, 2).unwrap_err();
            assert_eq!(err.line(), 3, "chunk {chunk}: {err:?}");
        }
        // A character cut by a chunk end is not invalid.
        assert_eq!(lines("é\né".as_bytes(), 1, 1).unwrap().len(), 2);
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Helpers for the parser unit tests.

    use super::{normalize, NodeRoutes};

    /// The routes as `render_text` lines without the header, for exact comparisons.
    pub fn summary(routes: &NodeRoutes) -> String {
        super::render_compact(&normalize(routes, None))
    }

    /// Reads a fixture under `fixtures/rules/`.
    pub fn fixture(path: &str) -> String {
        let full = format!("{}/../fixtures/rules/{path}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
    }
}

#[cfg(test)]
mod text_tests {
    use super::test_support::fixture;
    use super::{normalize, parse_iptables, render_text, ProxyMode};

    /// The text for people: aligned columns, addresses in numeric order, and a drop that says
    /// which traffic is dropped and where the rest goes.
    #[test]
    fn rules_text_is_aligned_sorted_and_worded() {
        let routes = parse_iptables(&fixture("iptables/valid-overall.iptables")).unwrap();
        let text = render_text(ProxyMode::Iptables, None, &normalize(&routes, None));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "mode: iptables  node: -");
        assert!(lines[1].starts_with("FRONTEND "), "{text}");
        // Every column starts at the same place on every line.
        let column = |l: &str, word: &str| l.find(word);
        let kind_at = column(lines[1], "KIND");
        for l in &lines[2..] {
            let kind = l.split_whitespace().nth(1).unwrap_or_default();
            assert_eq!(
                l.find(&format!(" {kind} ")).map(|i| i + 1),
                kind_at,
                "{text}"
            );
        }
        // `*:port` first, then addresses by number: 5.6.7.8 before 172.30.0.41.
        let frontends: Vec<&str> = lines[2..]
            .iter()
            .map(|l| l.split_whitespace().next().unwrap_or_default())
            .collect();
        let at = |f: &str| frontends.iter().position(|x| *x == f);
        assert!(at("*:3001/tcp") < at("1.2.3.4:80/tcp"), "{frontends:?}");
        assert!(
            at("5.6.7.8:80/tcp") < at("172.30.0.41:80/tcp"),
            "{frontends:?}"
        );
        assert!(
            at("172.30.0.46:80/tcp") < at("192.168.99.22:80/tcp"),
            "{frontends:?}"
        );
        let drop = lines
            .iter()
            .find(|l| l.starts_with("*:3001/tcp"))
            .copied()
            .unwrap_or_default();
        assert!(
            drop.ends_with("drop     external traffic is dropped: no endpoint on this node; from pods → 10.180.0.2:80 100%"),
            "{drop}"
        );
        assert!(
            text.contains("→ 10.180.0.4:80 50%, 10.180.0.5:80 50%"),
            "{text}"
        );
        assert!(
            text.contains("rejected: the Service has no endpoint"),
            "{text}"
        );
    }

    #[test]
    fn endpoints_sort_by_number_not_by_text() {
        let shares = [
            ("10.0.1.10:80", 0.5),
            ("10.0.1.2:80", 0.25),
            ("node-a", 0.25),
        ]
        .map(|(endpoint, probability)| super::NamedShare {
            endpoint: endpoint.to_string(),
            probability,
        });
        assert_eq!(
            super::shares_text(&shares),
            "10.0.1.2:80 25%, 10.0.1.10:80 50%, node-a 25%"
        );
        assert_eq!(super::percent(1.0 / 3.0), "33.3%");
    }
}
