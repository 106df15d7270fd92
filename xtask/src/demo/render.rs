//! The demo's output: the accounts, the Slack digests as they read in Slack, the
//! summary table, and the helpers they share (sections, wrapping, tables).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::Path;

use iam_janitor::model::report::ReasonCode;
use serde_json::Value;

use super::lambda::AccountRuns;
use super::org::Account;

const WIDTH: usize = 100;

pub(super) fn print_accounts(accounts: &[Account]) {
    let width = accounts
        .iter()
        .flat_map(|a| &a.users)
        .map(|(name, _)| name.chars().count())
        .max()
        .unwrap_or(0);
    for account in accounts {
        let ou = if account.management {
            "management account, under the root".to_string()
        } else {
            format!("OU {}", account.ou)
        };
        println!("   {} {} ({ou})", account.name, account.id);
        for (name, story) in &account.users {
            let first = format!("     {name:<width$}  ");
            let rest = " ".repeat(first.chars().count());
            println!("{}", wrap(story, &first, &rest));
        }
    }
}

pub(super) fn print_digests(out: &Out, account: &Account, digests: &[String]) {
    println!();
    if digests.is_empty() {
        println!(
            "   {} {} ({}): nothing to report, no Slack message",
            out.bold("·"),
            account.name,
            account.id
        );
        return;
    }
    for body in digests {
        print!("{}", render_digest(out, body));
    }
}

/// The organization digest as it reads in Slack, or why none was posted (from the
/// handler's summary).
pub(super) fn print_org_digest(out: &Out, digests: &[String], summary: &Value) {
    println!();
    if digests.is_empty() {
        let why = summary["org_digest"]["not_posted"]
            .as_str()
            .unwrap_or("no reason given");
        println!("   {} no organization digest posted: {why}", out.bold("·"));
        return;
    }
    for body in digests {
        print!("{}", render_digest(out, body));
    }
}

/// A Slack webhook payload as it reads in Slack: the header, then each section's text.
fn render_digest(out: &Out, body: &str) -> String {
    let Ok(message) = serde_json::from_str::<Value>(body) else {
        return wrap(body, "   │ ", "   │ ") + "\n";
    };
    let mut text = String::new();
    let blocks = message["blocks"].as_array().cloned().unwrap_or_default();
    for block in &blocks {
        let content = block["text"]["text"].as_str().unwrap_or_default();
        match block["type"].as_str() {
            Some("header") => {
                let _ = writeln!(text, "   ┌ {}", out.bold(content));
            }
            Some("section") => {
                for line in from_mrkdwn(content).lines() {
                    let continuation = if line.starts_with("• ") {
                        "   │   "
                    } else {
                        "   │ "
                    };
                    let _ = writeln!(text, "{}", wrap(line, "   │ ", continuation));
                }
            }
            _ => {}
        }
    }
    if blocks.is_empty()
        && let Some(plain) = message["text"].as_str()
    {
        let _ = writeln!(text, "{}", wrap(&from_mrkdwn(plain), "   │ ", "   │ "));
    }
    text
}

/// Slack mrkdwn as plain text: `*bold*` and `` `code` `` markers dropped, entities
/// decoded. A `*` is a marker only at the edge of a word (a glob like `ci-*` stays).
fn from_mrkdwn(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut plain = String::with_capacity(text.len());
    for (i, &c) in chars.iter().enumerate() {
        let before = i.checked_sub(1).and_then(|j| chars.get(j)).copied();
        let after = chars.get(i + 1).copied();
        let word = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
        let opens = !word(before) && word(after) && before != Some('*');
        let closes = word(before) && !word(after);
        if c == '`' || (c == '*' && (opens || closes)) {
            continue;
        }
        plain.push(c);
    }
    plain.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

pub(super) fn count(report: &Value, field: &str) -> u64 {
    report["summary"][field].as_u64().unwrap_or(0)
}

/// Skipped findings of a report, counted by their `reason_code` (in the code's order).
fn skipped_reasons(report: &Value) -> String {
    let mut reasons: BTreeMap<Option<ReasonCode>, usize> = BTreeMap::new();
    for finding in report["findings"].as_array().into_iter().flatten() {
        if finding["status"] != "skipped" {
            continue;
        }
        let code = serde_json::from_value::<ReasonCode>(finding["reason_code"].clone()).ok();
        *reasons.entry(code).or_default() += 1;
    }
    reasons
        .into_iter()
        .map(|(code, n)| {
            let label = code.map_or("no reason given", ReasonCode::label);
            if n == 1 {
                label.to_string()
            } else {
                format!("{n}× {label}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn print_summary(accounts: &[Account], runs: &[AccountRuns]) {
    let mut rows = vec![vec![
        "account".to_string(),
        "id".to_string(),
        "OU".to_string(),
        "users".to_string(),
        "findings".to_string(),
        "applied".to_string(),
        "skipped".to_string(),
    ]];
    for (account, run) in accounts.iter().zip(runs) {
        let findings = run.report["findings"].as_array().map_or(0, Vec::len);
        let skipped = count(&run.enforce, "skipped");
        let reasons = skipped_reasons(&run.enforce);
        rows.push(vec![
            account.name.to_string(),
            account.id.clone(),
            account.ou.to_string(),
            count(&run.report, "users_evaluated").to_string(),
            findings.to_string(),
            count(&run.enforce, "applied").to_string(),
            if skipped == 0 {
                "0".to_string()
            } else {
                format!("{skipped} ({reasons})")
            },
        ]);
    }
    print!("{}", table(&rows, "   "));
    println!(
        "{}",
        wrap(
            "findings: what the scheduled run reported (changes it would make, warnings, skips); applied and \
             skipped: what the enforce run did.",
            "   ",
            "   "
        )
    );
}

/// Bold and marks on a terminal (unless NO_COLOR is set), plain text otherwise.
pub(super) struct Out {
    styled: bool,
    /// The next section's number.
    next: std::cell::Cell<usize>,
}

impl Out {
    pub(super) fn detect() -> Out {
        Out {
            styled: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
            next: std::cell::Cell::new(1),
        }
    }

    pub(super) fn bold(&self, text: &str) -> String {
        if self.styled {
            format!("\x1b[1m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    pub(super) fn ok(&self) -> &'static str {
        "✓"
    }

    /// A section heading, numbered in order, and what it is about.
    pub(super) fn section(&self, title: &str, detail: &str) {
        let n = self.next.get();
        self.next.set(n + 1);
        println!();
        println!("{}", self.bold(&format!("{n}. {title}")));
        if !detail.is_empty() {
            println!("{}", wrap(detail, "   ", "   "));
        }
    }
}

/// Word-wraps `text` at [`WIDTH`] columns: the first line after `first`, the others
/// after `rest`. A word longer than a line gets a line of its own.
pub(super) fn wrap(text: &str, first: &str, rest: &str) -> String {
    let mut lines: Vec<String> = Vec::new();
    let mut line = first.to_string();
    let mut empty = true;
    for word in text.split_whitespace() {
        let width = line.chars().count() + usize::from(!empty) + word.chars().count();
        if !empty && width > WIDTH {
            lines.push(std::mem::replace(&mut line, rest.to_string()));
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    lines.push(line);
    lines.join("\n")
}

/// Rows as left-aligned columns, the first row the header.
fn table(rows: &[Vec<String>], indent: &str) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut text = String::new();
    for row in rows {
        let mut line = indent.to_string();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == row.len() {
                line.push_str(cell);
            } else {
                let width = widths.get(c).copied().unwrap_or(0);
                let _ = write!(line, "{cell:<width$}  ");
            }
        }
        let _ = writeln!(text, "{}", line.trim_end());
    }
    text
}

/// `path` relative to the workspace root when it is inside it.
pub(super) fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root).unwrap_or(path).display().to_string()
}

pub(super) fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1_000_000.0)
}

pub(super) fn short_hash(hash: &str) -> String {
    hash.chars().take(12).collect::<String>() + "…"
}

/// Every 64-hex-digit word (a sha256) cut to its first 12 digits.
pub(super) fn short_hashes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() == 64 {
            out.push_str(&short_hash(run));
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        if c.is_ascii_hexdigit() {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use serde_json::json;

    use super::*;

    #[test]
    fn mrkdwn_reads_as_plain_text() {
        assert_eq!(
            from_mrkdwn("*3* credentials disabled, an enforce run *would* act"),
            "3 credentials disabled, an enforce run would act"
        );
        assert_eq!(
            from_mrkdwn("*Changed* (2)\n• `bob` console password: idle &gt; 90 days"),
            "Changed (2)\n• bob console password: idle > 90 days"
        );
        assert_eq!(
            from_mrkdwn("exempt by --exempt-user ci-*"),
            "exempt by --exempt-user ci-*"
        );
    }

    #[test]
    fn digests_render_header_and_sections() {
        let body = json!({"blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "iam-janitor · 123456789012 · enforce"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "*1* credentials disabled"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "*Changed* (1)\n• `bob` console password: idle"}},
        ]})
        .to_string();
        let out = Out {
            styled: false,
            next: std::cell::Cell::new(1),
        };
        assert_eq!(
            render_digest(&out, &body),
            "   ┌ iam-janitor · 123456789012 · enforce\n   │ 1 credentials disabled\n   │ Changed (1)\n   │ • bob \
             console password: idle\n"
        );
    }

    #[test]
    fn long_lines_wrap_under_their_prefix() {
        let text = "word ".repeat(40);
        let wrapped = wrap(&text, "   │ ", "   │   ");
        assert!(wrapped.lines().count() > 1);
        assert!(wrapped.lines().all(|l| l.chars().count() <= WIDTH), "{wrapped}");
        assert!(wrapped.lines().skip(1).all(|l| l.starts_with("   │   word")));
    }

    #[test]
    fn skipped_reasons_are_summarised() {
        let report = json!({"findings": [
            {"status": "skipped", "reason_code": "exempt", "reason": "exempt: tag iam-janitor:exempt=true; idle 300 days"},
            {"status": "skipped", "reason_code": "exempt", "reason": "exempt: tag iam-janitor:exempt=true; idle 400 days"},
            {"status": "applied", "reason_code": "dormant", "reason": "idle"},
            {"status": "skipped", "reason_code": "grace", "reason": "grace: user created 2026-10-01 (60 days ago), younger than 90 days"},
            {"status": "skipped", "reason": "a report without codes"},
        ]});
        assert_eq!(skipped_reasons(&report), "no reason given, 2× exempt, new user (grace)");
    }
}
