//! What `deploy` and `destroy` show while they work: a spinner per step on a terminal,
//! plain lines otherwise (CI logs), all on stderr. The plan and the results go to stdout.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// Asks a yes/no question on the terminal; only "y" or "yes" is yes.
pub fn confirm(question: &str) -> anyhow::Result<bool> {
    let mut stderr = std::io::stderr().lock();
    write!(stderr, "{question} [y/N] ")?;
    stderr.flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes"))
}

/// Decides whether to go ahead with a plan that changes something: `--yes`, or a "yes"
/// on the terminal. Without a terminal and without `--yes`, refuses: nobody saw the plan.
pub fn approve(yes: bool, what: &str) -> anyhow::Result<()> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "refusing to {what} without confirmation: there is no terminal to ask on. Pass --yes to apply the plan \
             above (or --dry-run to only print it)"
        );
    }
    if confirm(&format!("{}?", capitalized(what)))? {
        Ok(())
    } else {
        anyhow::bail!("cancelled: nothing was changed")
    }
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Starts steps.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    spinner: bool,
}

impl Progress {
    /// A spinner if stderr is a terminal, plain lines otherwise.
    pub fn detect() -> Progress {
        Progress {
            spinner: std::io::stderr().is_terminal(),
        }
    }

    pub fn step(&self, title: impl Into<String>) -> Step {
        let title = title.into();
        let bar = if self.spinner {
            let bar = ProgressBar::new_spinner();
            if let Ok(style) = ProgressStyle::with_template("{spinner} {prefix}: {wide_msg}") {
                bar.set_style(style);
            }
            bar.set_prefix(title.clone());
            bar.enable_steady_tick(Duration::from_millis(120));
            Some(bar)
        } else {
            eprintln!("==> {title}");
            None
        };
        Step {
            title,
            bar,
            last: Mutex::new(String::new()),
        }
    }
}

/// One step: its spinner, or its heading and plain lines.
#[derive(Debug)]
pub struct Step {
    title: String,
    bar: Option<ProgressBar>,
    /// The last message, so that plain output shows each state once.
    last: Mutex<String>,
}

impl Step {
    /// Shows where the step is.
    pub fn update(&self, message: &str) {
        let mut last = self.last.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if *last == message {
            return;
        }
        *last = message.to_string();
        match &self.bar {
            Some(bar) => bar.set_message(message.to_string()),
            None => eprintln!("    {message}"),
        }
    }

    /// Prints lines on stdout (a spinner steps aside for them).
    pub fn print(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| print!("{text}")),
            None => print!("{text}"),
        }
    }

    /// Ends the step with its outcome.
    pub fn done(self, outcome: &str) {
        match &self.bar {
            Some(bar) => {
                bar.finish_and_clear();
                eprintln!("✓ {}: {outcome}", self.title);
            }
            None => eprintln!("    {outcome}"),
        }
    }
}

impl Drop for Step {
    fn drop(&mut self) {
        // A step dropped unfinished failed: its error is printed after it.
        if let Some(bar) = &self.bar
            && !bar.is_finished()
        {
            bar.finish_and_clear();
            eprintln!("✗ {}", self.title);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn questions_start_with_a_capital() {
        assert_eq!(capitalized("deploy these changes"), "Deploy these changes");
        assert_eq!(capitalized(""), "");
    }
}
