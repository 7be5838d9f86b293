//! Running external commands: [`Command`] (never a shell string), the [`CommandRunner`]
//! trait, the real [`DuctRunner`] and the scripted [`RecordingRunner`] used by tests.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

/// One program invocation: program, arguments, extra environment and a time limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    /// The program (looked up on `PATH`).
    pub program: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Environment variables set on top of the inherited environment.
    pub env: BTreeMap<String, String>,
    /// How long the command may run before it is killed.
    pub timeout: Duration,
    /// What the command reads on stdin (`None`: stdin is closed).
    pub stdin: Option<String>,
}

impl Command {
    /// Default time limit for short commands.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

    /// `program` with no arguments and the default timeout.
    pub fn new(program: impl Into<String>) -> Self {
        Command {
            program: program.into(),
            args: Vec::new(),
            env: BTreeMap::new(),
            timeout: Self::DEFAULT_TIMEOUT,
            stdin: None,
        }
    }

    /// Feeds `input` to the command's stdin.
    pub fn stdin(mut self, input: impl Into<String>) -> Self {
        self.stdin = Some(input.into());
        self
    }

    /// Adds one argument.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable for the command.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(key.into(), value.into());
        self
    }

    /// Sets the time limit.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Program followed by arguments: the key a [`RecordingRunner`] scripts against.
    pub fn argv(&self) -> Vec<String> {
        std::iter::once(self.program.clone())
            .chain(self.args.iter().cloned())
            .collect()
    }

    /// The command as you would paste it into a POSIX shell (environment first, every word
    /// quoted where needed).
    pub fn display(&self) -> String {
        let env = self
            .env
            .iter()
            .map(|(k, v)| format!("{k}={}", shell_quote(v)));
        let argv = self.argv();
        let words = argv.iter().map(|w| shell_quote(w));
        env.chain(words).collect::<Vec<_>>().join(" ")
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display())
    }
}

/// Quotes a word for a POSIX shell when it needs quoting.
pub fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, '-' | '_' | '.' | '/' | ':' | '=' | '@' | ',' | '+')
        });
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Splits a command line into words the way a POSIX shell would, without running a shell:
/// words are separated by unquoted blanks; `'…'` keeps everything literally; `"…"` keeps
/// everything except that `\` escapes `"`, `\`, `$`, `` ` `` and a newline; an unquoted `\`
/// escapes the next character. Nothing is expanded (`$HOME`, `~`, `*` stay as written).
/// Unquoted shell operators (`|`, `&`, `;`, `<`, `>`, `(`, `)`, `` ` ``) are refused: to use
/// a shell, say so (`sh -c '…'`).
pub fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' | '\r' => {
                if let Some(w) = word.take() {
                    words.push(w);
                }
            }
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => w.push(c),
                        None => return Err(format!("unterminated ' in: {line}")),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => w.push(c),
                            Some('\n') => {}
                            Some(c) => {
                                w.push('\\');
                                w.push(c);
                            }
                            None => return Err(format!("unterminated \" in: {line}")),
                        },
                        Some(c) => w.push(c),
                        None => return Err(format!("unterminated \" in: {line}")),
                    }
                }
            }
            '\\' => match chars.next() {
                Some('\n') => {}
                Some(c) => word.get_or_insert_with(String::new).push(c),
                None => return Err(format!("trailing \\ in: {line}")),
            },
            '|' | '&' | ';' | '<' | '>' | '(' | ')' | '`' => {
                return Err(format!(
                    "`{c}` is shell syntax, and no shell runs this command; quote it, or run a shell explicitly: sh -c '…'"
                ))
            }
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    Ok(words)
}

/// What a finished command printed.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Output {
    /// Standard output (lossy UTF-8).
    pub stdout: String,
    /// Standard error (lossy UTF-8).
    pub stderr: String,
}

impl Output {
    /// Output with this stdout and nothing on stderr.
    pub fn stdout(text: impl Into<String>) -> Self {
        Output {
            stdout: text.into(),
            stderr: String::new(),
        }
    }
}

/// Why a command did not succeed. Every variant carries the command as you would paste it.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The program could not be started (not installed, not executable).
    #[error("cannot run `{command}`: {source}")]
    Spawn {
        /// The command.
        command: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The program exited unsuccessfully.
    #[error("`{command}` failed ({status})\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}")]
    Failed {
        /// The command.
        command: String,
        /// Exit status, e.g. `exit status 1` or `killed by signal 9`.
        status: String,
        /// What it printed on stdout.
        stdout: String,
        /// What it printed on stderr.
        stderr: String,
    },
    /// The program ran past its time limit and was killed.
    #[error("`{command}` timed out after {}s and was killed", .timeout.as_secs())]
    TimedOut {
        /// The command.
        command: String,
        /// The limit.
        timeout: Duration,
    },
    /// A [`RecordingRunner`] was asked to run a command nobody scripted.
    #[error("unexpected command `{command}`; scripted commands still waiting:\n{waiting}")]
    Unexpected {
        /// The command.
        command: String,
        /// What was scripted and not yet run.
        waiting: String,
    },
}

impl CommandError {
    /// The command the error is about, as you would paste it.
    pub fn command(&self) -> &str {
        match self {
            CommandError::Spawn { command, .. }
            | CommandError::Failed { command, .. }
            | CommandError::TimedOut { command, .. }
            | CommandError::Unexpected { command, .. } => command,
        }
    }
}

/// Runs commands. Implementations: [`DuctRunner`] (real processes), [`RecordingRunner`]
/// (scripted, for tests).
pub trait CommandRunner {
    /// Runs `command` to completion; `Ok` only when it exits with status 0.
    fn run(&self, command: &Command) -> Result<Output, CommandError>;
}

/// Runs real processes with the `duct` crate: output captured, stdin closed, the command's
/// time limit enforced (the process is killed when it runs over).
#[derive(Clone, Copy, Debug, Default)]
pub struct DuctRunner;

impl CommandRunner for DuctRunner {
    fn run(&self, command: &Command) -> Result<Output, CommandError> {
        let mut expr = match &command.stdin {
            Some(input) => duct::cmd(&command.program, &command.args).stdin_bytes(input.clone()),
            None => duct::cmd(&command.program, &command.args).stdin_null(),
        }
        .stdout_capture()
        .stderr_capture()
        .unchecked();
        for (k, v) in &command.env {
            expr = expr.env(k, v);
        }
        let spawn = |source| CommandError::Spawn {
            command: command.display(),
            source,
        };
        let handle = expr.start().map_err(spawn)?;
        let output = match handle.wait_timeout(command.timeout).map_err(spawn)? {
            Some(output) => output.clone(),
            None => {
                // Best effort: the process may have exited between the wait and the kill.
                let _ = handle.kill();
                return Err(CommandError::TimedOut {
                    command: command.display(),
                    timeout: command.timeout,
                });
            }
        };
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        if output.status.success() {
            Ok(Output { stdout, stderr })
        } else {
            Err(CommandError::Failed {
                command: command.display(),
                status: exit_status_text(&output.status),
                stdout,
                stderr,
            })
        }
    }
}

/// How a process ended, in words: `exit status 1`, `killed by signal 9`.
pub(crate) fn exit_status_text(status: &std::process::ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exit status {code}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return format!("killed by signal {signal}");
        }
    }
    status.to_string()
}

/// A scripted reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// Exit 0 with this output.
    Success(Output),
    /// Exit with this non-zero code and output.
    Failure {
        /// Exit code.
        code: i32,
        /// Output.
        output: Output,
    },
    /// Run past the time limit.
    Timeout,
}

#[derive(Debug, Default)]
struct Recording {
    script: Vec<(Vec<String>, VecDeque<Reply>)>,
    calls: Vec<Command>,
}

/// A fake runner for tests: records every command and replays scripted replies keyed by
/// argv, in order per argv. A command with no reply left fails with
/// [`CommandError::Unexpected`] (and is recorded too), so tests see extra calls at once.
#[derive(Debug, Default)]
pub struct RecordingRunner {
    inner: Mutex<Recording>,
}

impl RecordingRunner {
    /// An empty script.
    pub fn new() -> Self {
        Self::default()
    }

    /// Scripts the next reply for `argv`.
    pub fn on<S: AsRef<str>>(&self, argv: &[S], reply: Reply) -> &Self {
        let key: Vec<String> = argv.iter().map(|s| s.as_ref().to_string()).collect();
        let mut inner = self.lock();
        match inner.script.iter_mut().find(|(k, _)| *k == key) {
            Some((_, replies)) => replies.push_back(reply),
            None => inner.script.push((key, VecDeque::from([reply]))),
        }
        drop(inner);
        self
    }

    /// Scripts a successful reply with this stdout.
    pub fn ok<S: AsRef<str>>(&self, argv: &[S], stdout: &str) -> &Self {
        self.on(argv, Reply::Success(Output::stdout(stdout)))
    }

    /// Scripts a failing reply with this exit code and stderr.
    pub fn fail<S: AsRef<str>>(&self, argv: &[S], code: i32, stderr: &str) -> &Self {
        self.on(
            argv,
            Reply::Failure {
                code,
                output: Output {
                    stdout: String::new(),
                    stderr: stderr.to_string(),
                },
            },
        )
    }

    /// Every command run so far, in order.
    pub fn calls(&self) -> Vec<Command> {
        self.lock().calls.clone()
    }

    /// Every command run so far, as pasteable text.
    pub fn call_lines(&self) -> Vec<String> {
        self.lock().calls.iter().map(Command::display).collect()
    }

    /// Scripted replies nobody asked for (pasteable argv, one per reply).
    pub fn unused(&self) -> Vec<String> {
        self.lock()
            .script
            .iter()
            .flat_map(|(argv, replies)| {
                let line = argv
                    .iter()
                    .map(|w| shell_quote(w))
                    .collect::<Vec<_>>()
                    .join(" ");
                std::iter::repeat_n(line, replies.len())
            })
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Recording> {
        // A test that panicked while holding the lock already failed; keep the data.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl CommandRunner for RecordingRunner {
    fn run(&self, command: &Command) -> Result<Output, CommandError> {
        let argv = command.argv();
        let mut inner = self.lock();
        inner.calls.push(command.clone());
        let reply = inner
            .script
            .iter_mut()
            .find(|(k, _)| *k == argv)
            .and_then(|(_, replies)| replies.pop_front());
        drop(inner);
        match reply {
            Some(Reply::Success(output)) => Ok(output),
            Some(Reply::Failure { code, output }) => Err(CommandError::Failed {
                command: command.display(),
                status: format!("exit status {code}"),
                stdout: output.stdout,
                stderr: output.stderr,
            }),
            Some(Reply::Timeout) => Err(CommandError::TimedOut {
                command: command.display(),
                timeout: command.timeout,
            }),
            None => {
                let waiting = self.unused();
                Err(CommandError::Unexpected {
                    command: command.display(),
                    waiting: if waiting.is_empty() {
                        "  (none)".to_string()
                    } else {
                        waiting
                            .iter()
                            .map(|l| format!("  {l}"))
                            .collect::<Vec<_>>()
                            .join("\n")
                    },
                })
            }
        }
    }
}

/// Environment variable naming the cluster for an [`AfterCreate`] command.
pub const CLUSTER_ENV: &str = "TOPO_CLUSTER";

/// A user command run once after each cluster is created and before any case runs on it
/// (`--after-create`): argv, never a shell string, with `KUBECONFIG` set to the cluster's
/// kubeconfig and [`CLUSTER_ENV`] to its name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AfterCreate {
    /// Program and arguments.
    pub argv: Vec<String>,
    /// How long it may run.
    pub timeout: Duration,
}

impl AfterCreate {
    /// The command for cluster `cluster`: its argv and time limit, with
    /// `KUBECONFIG=<kubeconfig>` (made absolute, so a script that changes directory still
    /// finds it) and [`CLUSTER_ENV`]`=<cluster>`.
    pub fn command(&self, kubeconfig: &std::path::Path, cluster: &str) -> Command {
        let mut argv = self.argv.iter();
        let program = argv.next().cloned().unwrap_or_default();
        let kubeconfig = std::path::absolute(kubeconfig).unwrap_or_else(|_| kubeconfig.into());
        Command::new(program)
            .args(argv.cloned())
            .env("KUBECONFIG", kubeconfig.display().to_string())
            .env(CLUSTER_ENV, cluster.to_string())
            .timeout(self.timeout)
    }

    /// Default time limit (10 minutes).
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

    /// Parses a command line with [`split_words`]; an empty line is an error.
    pub fn parse(line: &str, timeout: Duration) -> Result<Self, String> {
        let argv = split_words(line).map_err(|e| format!("--after-create: {e}"))?;
        if argv.is_empty() {
            return Err("--after-create: the command is empty".to_string());
        }
        Ok(AfterCreate { argv, timeout })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_words_like_a_shell_without_one() {
        let w = |s: &str| split_words(s);
        let v = |words: &[&str]| Ok(words.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            w("helm install cilium cilium/cilium --set kubeProxyReplacement=true"),
            v(&[
                "helm",
                "install",
                "cilium",
                "cilium/cilium",
                "--set",
                "kubeProxyReplacement=true"
            ])
        );
        assert_eq!(w("  a\t b \n"), v(&["a", "b"]));
        assert_eq!(
            w("sh -c 'kubectl apply -f x && kubectl wait'"),
            v(&["sh", "-c", "kubectl apply -f x && kubectl wait"])
        );
        assert_eq!(w(r#"a "b c" d"#), v(&["a", "b c", "d"]));
        assert_eq!(w(r#""a \"q\" \$HOME \n""#), v(&[r#"a "q" $HOME \n"#]));
        assert_eq!(w(r"a\ b c\'d"), v(&["a b", "c'd"]));
        assert_eq!(w("x'y'\"z\""), v(&["xyz"]));
        assert_eq!(w("'' \"\""), v(&["", ""]));
        assert_eq!(w("echo $HOME ~ *"), v(&["echo", "$HOME", "~", "*"]));
        assert_eq!(w(""), v(&[]));
        assert!(w("'open").unwrap_err().contains("unterminated '"));
        assert!(w("\"open").unwrap_err().contains("unterminated \""));
        assert!(w("a\\").unwrap_err().contains("trailing \\"));
        for op in ["a | b", "a && b", "a; b", "a > f", "a < f", "(a)", "a `b`"] {
            assert!(w(op).unwrap_err().contains("sh -c"), "{op}");
        }
        // Quoting is kept through Command::display (what --dry-run prints).
        let argv = w("sh -c 'echo \"$X\"'").expect("words");
        let c = Command::new(&argv[0]).args(argv[1..].iter().cloned());
        assert_eq!(w(&c.display()), Ok(argv));
    }

    #[test]
    fn display_quotes_like_a_shell() {
        let c = Command::new("docker")
            .args(["exec", "n", "sh", "-c", "echo 'hi' there"])
            .env("KIND_EXPERIMENTAL_PROVIDER", "podman");
        assert_eq!(
            c.display(),
            r#"KIND_EXPERIMENTAL_PROVIDER=podman docker exec n sh -c 'echo '\''hi'\'' there'"#
        );
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn recording_runner_replays_in_order_and_rejects_the_unscripted() {
        let r = RecordingRunner::new();
        r.ok(&["kind", "get", "clusters"], "a\n")
            .ok(&["kind", "get", "clusters"], "a\nb\n");
        let get = Command::new("kind").args(["get", "clusters"]);
        assert_eq!(r.run(&get).unwrap().stdout, "a\n");
        assert_eq!(r.run(&get).unwrap().stdout, "a\nb\n");
        let err = r.run(&get).unwrap_err();
        assert!(matches!(err, CommandError::Unexpected { .. }));
        assert_eq!(err.command(), "kind get clusters");
        assert_eq!(r.call_lines().len(), 3);
        assert!(r.unused().is_empty());
    }

    #[test]
    fn recording_runner_failures_carry_command_status_and_output() {
        let r = RecordingRunner::new();
        r.fail(&["kind", "delete", "cluster"], 1, "boom");
        r.on(&["sleep", "9"], Reply::Timeout);
        let err = r
            .run(&Command::new("kind").args(["delete", "cluster"]))
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("`kind delete cluster` failed (exit status 1)"));
        assert!(text.contains("boom"));
        let err = r.run(&Command::new("sleep").arg("9")).unwrap_err();
        assert!(matches!(err, CommandError::TimedOut { .. }));
    }

    #[cfg(unix)]
    #[test]
    fn duct_runner_runs_captures_and_times_out() {
        let out = DuctRunner
            .run(&Command::new("sh").args(["-c", "echo out; echo err >&2"]))
            .unwrap();
        assert_eq!(out.stdout, "out\n");
        assert_eq!(out.stderr, "err\n");

        let err = DuctRunner
            .run(&Command::new("sh").args(["-c", "echo partial; exit 3"]))
            .unwrap_err();
        match &err {
            CommandError::Failed { status, stdout, .. } => {
                assert_eq!(status, "exit status 3");
                assert_eq!(stdout, "partial\n");
            }
            other => panic!("{other}"),
        }
        assert_eq!(err.command(), "sh -c 'echo partial; exit 3'");

        let env = DuctRunner
            .run(
                &Command::new("sh")
                    .args(["-c", "echo $TOPO_X"])
                    .env("TOPO_X", "y"),
            )
            .unwrap();
        assert_eq!(env.stdout, "y\n");

        let started = std::time::Instant::now();
        let err = DuctRunner
            .run(
                &Command::new("sleep")
                    .arg("30")
                    .timeout(Duration::from_millis(200)),
            )
            .unwrap_err();
        assert!(matches!(err, CommandError::TimedOut { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(10));

        let err = DuctRunner
            .run(&Command::new("topo-harness-no-such-program"))
            .unwrap_err();
        assert!(matches!(err, CommandError::Spawn { .. }), "{err}");
    }
}
