//! Seeded text mutations for robustness tests: line-level edits (drop, duplicate, cut, swap),
//! byte flips, hostile tokens (YAML anchors and aliases, document markers, deep nesting,
//! brackets, quotes) and, most of all, numbers replaced by hostile ones (2^31, 2^32 − 1,
//! 2^63, 2^64, 1e308, negative, fractional) — the values that found capacity overflows.
#![allow(dead_code)]

/// xorshift64*: deterministic, no extra crate.
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    /// One of `items`.
    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// Numbers that break unchecked arithmetic and allocation.
pub const HOSTILE_NUMBERS: &[&str] = &[
    "0",
    "-1",
    "-0",
    "1.5",
    "1e308",
    "-1e308",
    "1000",
    "65535",
    "65536",
    "99999",
    "2147483647",
    "2147483648",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999999999999999999999",
    "0x7fffffff",
    "0o777",
    ".inf",
    ".nan",
    "\"2Ei\"",
    "\"18446744073709551615m\"",
    "\"9e18\"",
];

/// Tokens inserted at random places.
pub const HOSTILE_TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "\"",
    "'",
    "\\",
    ":",
    ": ",
    "- ",
    ",",
    "#",
    "&a ",
    "*a",
    "&b [*a, *a]",
    "<<: *a",
    "---",
    "...",
    "!!str ",
    "!!binary ",
    "? ",
    "|",
    ">",
    "\t",
    "\u{feff}",
    "é",
    "\u{0}",
    "~",
    "null",
    "true",
    "yes",
    "[[[[[[[[[[[[[[[[",
    "{a: {b: {c: {d: {e: {",
    "-j KUBE-SEP-ZZZ",
    "-j KUBE-SVC-ZZZ",
    "--probability 2",
    "--dport 99999",
    "goto service-x",
    "numgen random mod 0 vmap { }",
    "dnat to",
    "COMMIT",
    "*nat",
    "  -> ",
    "FFFFFFFF:FFFF",
];

/// Replaces the `k`-th run of digits in `line` (if any) with a hostile number.
fn replace_number(rng: &mut Rng, line: &str) -> Option<String> {
    let runs: Vec<(usize, usize)> = {
        let bytes = line.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i].is_ascii_digit() {
                let start = i;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
                out.push((start, i));
            } else {
                i += 1;
            }
        }
        out
    };
    if runs.is_empty() {
        return None;
    }
    let (start, end) = runs[rng.below(runs.len())];
    Some(format!(
        "{}{}{}",
        &line[..start],
        rng.pick(HOSTILE_NUMBERS),
        &line[end..]
    ))
}

/// The nearest char boundary at or below `at`.
fn boundary(line: &str, at: usize) -> usize {
    (0..=at.min(line.len()))
        .rev()
        .find(|c| line.is_char_boundary(*c))
        .unwrap_or(0)
}

/// One to four random edits of `text`.
pub fn mutate(rng: &mut Rng, text: &str) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for _ in 0..=rng.below(4) {
        if lines.is_empty() {
            lines.push(rng.pick(HOSTILE_TOKENS).to_string());
            continue;
        }
        let i = rng.below(lines.len());
        match rng.below(10) {
            // Numbers are where the overflows were: weigh them most.
            0..=3 => {
                let mut tries = 0;
                let mut at = i;
                while tries < 8 {
                    if let Some(changed) = replace_number(rng, &lines[at]) {
                        lines[at] = changed;
                        break;
                    }
                    at = rng.below(lines.len());
                    tries += 1;
                }
            }
            4 => {
                lines.remove(i);
            }
            5 => {
                let line = lines[i].clone();
                lines.insert(rng.below(lines.len() + 1), line);
            }
            6 => {
                lines.truncate(i + 1);
                let last = &mut lines[i];
                let cut = boundary(last, rng.below(last.len() + 1));
                last.truncate(cut);
            }
            7 => {
                let line = &mut lines[i];
                let at = boundary(line, rng.below(line.len() + 1));
                line.insert_str(at, rng.pick(HOSTILE_TOKENS));
            }
            8 => {
                let mut bytes = lines[i].clone().into_bytes();
                if !bytes.is_empty() {
                    let j = rng.below(bytes.len());
                    if bytes[j].is_ascii() {
                        bytes[j] = b' ' + (rng.below(95) as u8);
                    }
                }
                lines[i] = String::from_utf8_lossy(&bytes).into_owned();
            }
            _ => {
                let j = rng.below(lines.len());
                lines.swap(i, j);
            }
        }
    }
    lines.join("\n")
}

/// One or two numbers of `text` replaced by hostile ones, nothing else: mutants that stay
/// well-formed, so they reach what runs after reading.
pub fn mutate_numbers(rng: &mut Rng, text: &str) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for _ in 0..=rng.below(2) {
        for _ in 0..16 {
            let i = rng.below(lines.len());
            if let Some(changed) = replace_number(rng, &lines[i]) {
                lines[i] = changed;
                break;
            }
        }
    }
    lines.join("\n")
}

/// The files directly in `dir` (sorted), as text.
pub fn read_dir_texts(dir: &std::path::Path) -> Vec<(String, String)> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    paths.sort();
    paths
        .into_iter()
        .filter(|p| p.is_file())
        .filter_map(|p| {
            let text = std::fs::read_to_string(&p).ok()?;
            Some((p.display().to_string(), text))
        })
        .collect()
}
