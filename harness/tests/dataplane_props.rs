//! Property-style robustness check: thousands of deterministic random mutations of the rule
//! fixtures (lines dropped, duplicated, cut, bytes flipped, tokens inserted), fed to every
//! parser. Each call must return routes or a typed error naming a line within the input; none
//! may panic.

use topo_harness::observe::dataplane::{normalize, parse, render_json, render_text, ProxyMode};

/// xorshift64*: deterministic, no extra crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const TOKENS: &[&str] = &[
    "{",
    "}",
    "\"",
    "\\",
    " ",
    "\n",
    ":",
    ".",
    "/",
    "[",
    "]",
    "-j KUBE-SEP-ZZZ",
    "-j KUBE-SVC-ZZZ",
    "--probability 2",
    "--probability -0",
    "--probability 1e400",
    "goto endpoint-x",
    "goto service-x",
    "numgen random mod 0 vmap { }",
    "dnat to",
    "COMMIT",
    "*nat",
    "table ip kube-proxy {",
    "chain ",
    "elements = {",
    "TCP  ",
    "  -> ",
    "FFFFFFFF:FFFF",
    "99999",
    "::",
    "é",
    "\u{0}",
    "-A",
    "!",
    " comment \"",
];

fn mutate(rng: &mut Rng, text: &str) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for _ in 0..=rng.below(4) {
        match rng.below(7) {
            0 if !lines.is_empty() => {
                let i = rng.below(lines.len());
                lines.remove(i);
            }
            1 if !lines.is_empty() => {
                let i = rng.below(lines.len());
                let l = lines[i].clone();
                lines.insert(rng.below(lines.len() + 1), l);
            }
            2 if !lines.is_empty() => {
                let keep = rng.below(lines.len());
                lines.truncate(keep + 1);
                let last = lines.last_mut().expect("non-empty");
                let cut = rng.below(last.len() + 1);
                let cut = (0..=cut)
                    .rev()
                    .find(|c| last.is_char_boundary(*c))
                    .unwrap_or(0);
                last.truncate(cut);
            }
            3 if !lines.is_empty() => {
                let i = rng.below(lines.len());
                let l = &mut lines[i];
                let at = rng.below(l.len() + 1);
                let at = (0..=at).rev().find(|c| l.is_char_boundary(*c)).unwrap_or(0);
                l.insert_str(at, TOKENS[rng.below(TOKENS.len())]);
            }
            4 if !lines.is_empty() => {
                // Flip one ASCII byte to another printable one.
                let i = rng.below(lines.len());
                let mut bytes = lines[i].clone().into_bytes();
                if !bytes.is_empty() {
                    let j = rng.below(bytes.len());
                    if bytes[j].is_ascii() {
                        bytes[j] = b' ' + (rng.below(95) as u8);
                    }
                }
                lines[i] = String::from_utf8_lossy(&bytes).into_owned();
            }
            5 if lines.len() > 1 => {
                let (a, b) = (rng.below(lines.len()), rng.below(lines.len()));
                lines.swap(a, b);
            }
            _ => lines.push(TOKENS[rng.below(TOKENS.len())].to_string()),
        }
    }
    lines.join("\n")
}

fn fixtures() -> Vec<String> {
    let root = format!("{}/../fixtures/rules", env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for dir in ["iptables", "nftables", "ipvs"] {
        let mut entries: Vec<_> = std::fs::read_dir(format!("{root}/{dir}"))
            .expect("fixtures/rules")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .collect();
        entries.sort();
        for p in entries {
            out.push(std::fs::read_to_string(&p).expect("fixture"));
        }
    }
    out
}

#[test]
fn parsers_never_panic_on_mutated_fixtures() {
    let fixtures = fixtures();
    assert!(
        fixtures.len() >= 10,
        "found only {} fixtures",
        fixtures.len()
    );
    let mut rng = Rng(0x5eed_70b0_4a53_0001);
    let iterations = 4000;
    let (mut ok, mut err) = (0usize, 0usize);
    for _ in 0..iterations {
        let base = &fixtures[rng.below(fixtures.len())];
        let input = mutate(&mut rng, base);
        let lines = input.lines().count().max(1);
        for mode in [ProxyMode::Iptables, ProxyMode::Nftables, ProxyMode::Ipvs] {
            match parse(mode, &input) {
                Ok(routes) => {
                    ok += 1;
                    let n = normalize(&routes, None);
                    let _ = render_json(mode, None, &n);
                    let _ = render_text(mode, None, &n);
                }
                Err(e) => {
                    err += 1;
                    assert!(
                        e.line() >= 1 && e.line() <= lines + 1,
                        "{e} points outside the {lines}-line input"
                    );
                }
            }
        }
    }
    println!("{iterations} mutants x 3 parsers: {ok} parsed, {err} typed errors, 0 panics");
    assert!(ok > 0 && err > 0);
}
