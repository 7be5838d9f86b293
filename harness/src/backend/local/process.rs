//! Child processes of the local backend: each one started with its output in a log file, in a
//! process group of its own (a Ctrl-C meant for the harness does not kill the cluster under
//! its cleanup), and — unless the cluster is to be kept — killed by the kernel if the harness
//! dies. Stopped by its own pid: SIGTERM, then SIGKILL after a grace period.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Why a process could not be started or talked to.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// The program could not be started.
    #[error("cannot start {name} (`{command}`): {source}")]
    Spawn {
        /// Its role (`kube-apiserver`, `kube-proxy on worker`).
        name: String,
        /// The command line.
        command: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Its log file could not be created.
    #[error("cannot create the log {path}: {source}")]
    Log {
        /// The log file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// It exited (or was killed) while it should run.
    #[error("{name} ended ({status}; log: {log})")]
    Exited {
        /// Its role.
        name: String,
        /// How it ended, in words (`exit status 1`, `killed by signal 9`).
        status: String,
        /// Its log file.
        log: PathBuf,
    },
    /// A request on its stdin got no answer, or a wrong one.
    #[error("{name}: {message} (log: {log})")]
    Protocol {
        /// Its role.
        name: String,
        /// What went wrong.
        message: String,
        /// Its log file.
        log: PathBuf,
    },
}

/// How a process ended, in words.
pub fn describe_status(status: ExitStatus) -> String {
    crate::backend::command::exit_status_text(&status)
}

/// What to start.
#[derive(Clone, Debug)]
pub struct Spawn {
    /// Its role, for messages.
    pub name: String,
    /// The program.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Extra environment.
    pub env: Vec<(String, String)>,
    /// Where stdout and stderr go.
    pub log: PathBuf,
    /// Whether the kernel kills it when the harness dies (not when the cluster is kept).
    pub die_with_parent: bool,
    /// Whether its stdin and stdout are pipes the harness talks through (else stdin is
    /// closed and stdout goes to the log).
    pub piped: bool,
}

impl Spawn {
    /// `program args…` as one would paste it.
    pub fn command_line(&self) -> String {
        std::iter::once(self.program.display().to_string())
            .chain(self.args.iter().cloned())
            .map(|w| crate::backend::command::shell_quote(&w))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A running child process.
#[derive(Debug)]
pub struct Process {
    name: String,
    log: PathBuf,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Option<BufReader<ChildStdout>>,
    /// How it ended, once it did.
    ended: Option<ExitStatus>,
    /// Let go of: dropping it does not stop it (a kept cluster).
    detached: bool,
}

impl Process {
    /// Starts `spawn`.
    pub fn start(spawn: &Spawn) -> Result<Process, ProcessError> {
        let log = File::create(&spawn.log).map_err(|source| ProcessError::Log {
            path: spawn.log.clone(),
            source,
        })?;
        let err = log.try_clone().map_err(|source| ProcessError::Log {
            path: spawn.log.clone(),
            source,
        })?;
        let mut command = Command::new(&spawn.program);
        command
            .args(&spawn.args)
            .envs(spawn.env.iter().map(|(k, v)| (k, v)))
            .stderr(Stdio::from(err))
            .process_group(0);
        if spawn.piped {
            command.stdin(Stdio::piped()).stdout(Stdio::piped());
        } else {
            command.stdin(Stdio::null()).stdout(Stdio::from(log));
        }
        if spawn.die_with_parent {
            // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
            unsafe {
                command.pre_exec(|| {
                    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let mut child = command.spawn().map_err(|source| ProcessError::Spawn {
            name: spawn.name.clone(),
            command: spawn.command_line(),
            source,
        })?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().map(BufReader::new);
        Ok(Process {
            name: spawn.name.clone(),
            log: spawn.log.clone(),
            child,
            stdin,
            stdout,
            ended: None,
            detached: false,
        })
    }

    /// Its pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its role.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its log file.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// `Ok` while it runs; the way it ended otherwise.
    pub fn check_running(&mut self) -> Result<(), ProcessError> {
        if self.ended.is_none() {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.ended = Some(status);
            }
        }
        match self.ended {
            None => Ok(()),
            Some(status) => Err(ProcessError::Exited {
                name: self.name.clone(),
                status: describe_status(status),
                log: self.log.clone(),
            }),
        }
    }

    /// Sends one line on its stdin and reads one line of answer (a piped process).
    pub fn request(&mut self, line: &str) -> Result<String, ProcessError> {
        let (name, log) = (self.name.clone(), self.log.clone());
        let protocol = |message: String| ProcessError::Protocol {
            name: name.clone(),
            message,
            log: log.clone(),
        };
        let (Some(stdin), Some(stdout)) = (self.stdin.as_mut(), self.stdout.as_mut()) else {
            return Err(protocol("not started with pipes".into()));
        };
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .and_then(|()| stdin.flush())
            .map_err(|e| protocol(format!("cannot send `{line}`: {e}")))?;
        let mut answer = String::new();
        match stdout.read_line(&mut answer) {
            Ok(0) => {
                self.check_running()?;
                Err(protocol(format!("no answer to `{line}` (stdout closed)")))
            }
            Ok(_) => Ok(answer.trim_end().to_string()),
            Err(e) => Err(protocol(format!("no answer to `{line}`: {e}"))),
        }
    }

    /// Reads one line of its stdout (a piped process), e.g. a `ready` line.
    pub fn read_line(&mut self) -> Result<String, ProcessError> {
        let (name, log) = (self.name.clone(), self.log.clone());
        let protocol = |message: String| ProcessError::Protocol {
            name: name.clone(),
            message,
            log: log.clone(),
        };
        let Some(stdout) = self.stdout.as_mut() else {
            return Err(protocol("not started with pipes".into()));
        };
        let mut line = String::new();
        match stdout.read_line(&mut line) {
            Ok(0) => {
                self.check_running()?;
                Err(protocol("stdout closed".into()))
            }
            Ok(_) => Ok(line.trim_end().to_string()),
            Err(e) => Err(protocol(e.to_string())),
        }
    }

    /// Lets go of it: it keeps running after the harness (a kept cluster).
    pub fn detach(&mut self) {
        self.detached = true;
    }

    /// Sends `signal` to it (by its own pid; nothing else is ever signalled).
    pub fn signal(&self, signal: i32) -> std::io::Result<()> {
        let pid = libc::pid_t::try_from(self.child.id())
            .map_err(|_| std::io::Error::other("pid out of range"))?;
        // SAFETY: kill(2) with our own child's pid.
        if unsafe { libc::kill(pid, signal) } == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }

    /// Stops it: closes its stdin, SIGTERM, waits up to `grace`, then SIGKILL; reaps it.
    /// Returns how it ended (already ended: how it did).
    pub fn stop(&mut self, grace: Duration) -> ExitStatus {
        if let Some(status) = self.ended {
            return status;
        }
        // A piped process ends by itself when its stdin closes: give it a moment.
        if self.stdin.take().is_some() {
            if let Some(status) = self.wait_for(Duration::from_millis(200)) {
                return status;
            }
        }
        if let Ok(Some(status)) = self.child.try_wait() {
            self.ended = Some(status);
            return status;
        }
        let _ = self.signal(libc::SIGTERM);
        if let Some(status) = self.wait_for(grace) {
            return status;
        }
        let _ = self.child.kill();
        let status = self
            .child
            .wait()
            .unwrap_or_else(|_| ExitStatus::from_raw(libc::SIGKILL));
        self.ended = Some(status);
        status
    }

    /// Waits up to `limit` for it to end.
    fn wait_for(&mut self, limit: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.ended = Some(status);
                return Some(status);
            }
            if start.elapsed() >= limit {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if self.ended.is_none() && !self.detached {
            self.stop(Duration::from_secs(2));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spawn(args: &[&str], piped: bool) -> (Spawn, PathBuf) {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("topo-process-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let log = dir.join("p.log");
        (
            Spawn {
                name: "test".into(),
                program: "/bin/sh".into(),
                args: args.iter().map(|s| s.to_string()).collect(),
                env: vec![("TOPO_X".into(), "x y".into())],
                log: log.clone(),
                die_with_parent: true,
                piped,
            },
            dir,
        )
    }

    #[test]
    fn output_goes_to_the_log_and_the_end_is_described() {
        let (s, dir) = spawn(&["-c", "echo \"out $TOPO_X\"; echo err >&2; exit 3"], false);
        let mut p = Process::start(&s).expect("start");
        let status = p.child.wait().expect("wait");
        p.ended = Some(status);
        let log = std::fs::read_to_string(dir.join("p.log")).expect("log");
        assert!(log.contains("out x y") && log.contains("err"), "{log}");
        let e = p
            .check_running()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.starts_with("test ended (exit status 3; log: "), "{e}");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn stop_terms_then_kills() {
        // Ignores SIGTERM: killed after the grace period, and says so.
        let (s, dir) = spawn(
            &["-c", "trap '' TERM; while true; do sleep 0.05; done"],
            false,
        );
        let mut p = Process::start(&s).expect("start");
        p.check_running().expect("runs");
        // Let the shell set its trap first.
        std::thread::sleep(Duration::from_millis(300));
        let status = p.stop(Duration::from_millis(200));
        assert_eq!(describe_status(status), "killed by signal 9");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn requests_go_through_stdin_and_stdout() {
        let (s, dir) = spawn(&["-c", "while read l; do echo \"ok $l\"; done"], true);
        let mut p = Process::start(&s).expect("start");
        assert_eq!(p.request("add a").expect("answer"), "ok add a");
        assert_eq!(p.request("del a").expect("answer"), "ok del a");
        let status = p.stop(Duration::from_secs(2));
        assert!(status.success(), "{status:?}");
        assert!(matches!(p.request("x"), Err(ProcessError::Protocol { .. })));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn command_lines_are_pasteable() {
        let (mut s, dir) = spawn(&["-c", "echo a b"], false);
        s.program = "/opt/my bin/k8s".into();
        assert_eq!(s.command_line(), "'/opt/my bin/k8s' -c 'echo a b'");
        let _ = std::fs::remove_dir_all(dir);
    }
}
