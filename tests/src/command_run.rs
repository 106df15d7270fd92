//! The outcome of running a command the way a user would (`cargo xtask …` in the
//! deploy and demo tests).

use std::process::Output;
use std::time::Duration;

/// Exit code and output of one run.
#[derive(Debug, Clone)]
pub struct CommandRun {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl CommandRun {
    /// Takes `output` of `what` (e.g. "xtask deploy …") and prints it to stderr, which
    /// the test harness shows for failing tests (and with --nocapture).
    pub fn new(what: &str, output: &Output, elapsed: Duration) -> CommandRun {
        let run = CommandRun {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        };
        eprintln!(
            "{what} → exit {} in {elapsed:.1?}\n--- stdout\n{}--- stderr\n{}---",
            run.code, run.stdout, run.stderr
        );
        run
    }

    /// Panics, showing the output, unless the exit code is 0.
    pub fn assert_ok(&self) -> &CommandRun {
        assert_eq!(
            self.code, 0,
            "exit {}\nstdout:\n{}\nstderr:\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }

    /// Panics, showing the output, unless the run failed with `message` on stderr.
    pub fn assert_failed(&self, message: &str) -> &CommandRun {
        assert_ne!(
            self.code, 0,
            "should have failed\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        assert!(
            self.stderr.contains(message),
            "stderr lacks {message:?}\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
}
