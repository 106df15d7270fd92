//! The organization digest: ONE Slack message a day, built (pure) from the organization's
//! view ([`OrgView`], each account's latest stored run) by the management account's
//! org-digest invocation, and posted to the same webhook as the runs' digests when
//! `--slack-scope` is `org` or `both`.
//!
//! It shows the organization's totals over each account's latest run (accounts
//! reporting, users evaluated, dormant credentials found, changes, failures, warnings,
//! deny policies), then the accounts that need a look: those whose latest run changed or
//! failed something (or could not check something, or tripped its circuit breaker), the
//! stale ones (no run for longer than the view's limit) and the missing ones (active in
//! the organization, no report in the window), by name when the organization's list gives
//! one. Rejected objects are a count (`cargo xtask report` lists them); skips are not
//! shown (the view does not count them).
//!
//! The same escaping and key-ID redaction as the run's digest apply to everything that
//! comes from outside (account names, reasons), and the same limits: every list is
//! bounded (by lines and by Slack's section size) and ends with "and N more", so the
//! digest is always one message.

use serde_json::{Value, json};

use super::slack::{MAX_BLOCKS, MAX_MESSAGE_CHARS, MAX_SECTION_CHARS, escape, plural, redact_text};
use crate::model::org::{AccountRow, Flag, OrgView};
use crate::model::report::Mode;

/// Accounts listed per section at most; the rest are counted.
pub const MAX_LISTED: usize = 20;

/// A line is cut to this many characters (an account's name is at most 50).
const MAX_LINE_CHARS: usize = 300;

/// `name (id)`, or the ID alone when the organization gives no name.
fn account_label(row: &AccountRow) -> String {
    match row.name.as_deref().filter(|n| !n.trim().is_empty()) {
        Some(name) => format!("{name} ({})", row.account_id),
        None => row.account_id.clone(),
    }
}

/// A line of a list: redacted, escaped and cut.
fn line(text: &str) -> String {
    let text: String = redact_text(text).chars().take(MAX_LINE_CHARS).collect();
    escape(&format!("• {text}"))
}

/// A section of `heading` and as many `lines` as fit ([`MAX_LISTED`] and Slack's section
/// size), then "and N more".
fn bounded_section(heading: &str, lines: &[String]) -> String {
    let mut text = format!("{heading} ({})", lines.len());
    // Room for the last line, "• …and 12345 more".
    let limit = MAX_SECTION_CHARS - 40;
    let mut shown = 0;
    for l in lines.iter().take(MAX_LISTED) {
        if text.chars().count() + 1 + l.chars().count() > limit {
            break;
        }
        text.push('\n');
        text.push_str(l);
        shown += 1;
    }
    if shown < lines.len() {
        text.push_str(&format!("\n• …and {} more", lines.len() - shown));
    }
    text
}

/// What an account's latest run did that needs a look, e.g. `2 changed, 1 failed`.
fn changes_and_failures(row: &AccountRow) -> Option<String> {
    let latest = row.latest.as_ref()?;
    let c = &latest.counts;
    let mut parts = Vec::new();
    if c.changed > 0 {
        parts.push(format!("{} changed", c.changed));
    }
    if c.failed > 0 {
        parts.push(format!("{} failed", c.failed));
    }
    if c.not_checked > 0 {
        parts.push(format!("{} not checked", c.not_checked));
    }
    if c.breaker_tripped {
        parts.push("circuit breaker tripped".to_string());
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// The organization digest of `view`: exactly one webhook message. `unknown_why` says why
/// the organization's accounts are unknown, when they are (then no account is missing).
pub fn org_digest(view: &OrgView, unknown_why: Option<&str>) -> Value {
    let t = &view.totals;
    let c = &t.latest;
    let hours = view.stale_after_hours;
    let title = format!("iam-janitor · organization · {}", view.last_day);

    // Reports from before the count have none: then it is left out.
    let denied = c
        .users_denied
        .map(|n| format!(", *{}* with a deny policy", plural(n, "user", "users")))
        .unwrap_or_default();
    let mut intro = format!(
        "*{}* (each one's latest run): *{}* evaluated, *{}* found, *{}*, *{}* skipped, *{}*, *{}*{denied}.",
        plural(t.accounts_reporting, "account reporting", "accounts reporting"),
        plural(c.users_evaluated, "user", "users"),
        plural(c.dormant_found, "dormant credential", "dormant credentials"),
        plural(c.changed, "change", "changes"),
        c.skipped,
        plural(c.failed, "failure", "failures"),
        plural(c.warned, "warning", "warnings"),
    );
    match (
        t.organization_accounts,
        unknown_why.filter(|_| !view.organization_known),
    ) {
        (Some(active), _) if view.organization_known => intro.push_str(&format!(
            "\nThe organization has {}: {} ran in the last {hours} hours, {} stale, {} missing.",
            plural(active, "active account", "active accounts"),
            t.accounts_reporting.saturating_sub(t.stale),
            t.stale,
            t.missing,
        )),
        (_, why) => intro.push_str(&format!(
            "\n:grey_question: The organization's accounts unknown{}: missing accounts are not shown.",
            why.map(|w| format!(" ({})", escape(&redact_text(w))))
                .unwrap_or_default()
        )),
    }
    let reporting_only = view
        .accounts
        .iter()
        .filter(|r| r.latest.as_ref().is_some_and(|l| l.mode == Mode::Report))
        .count();
    if reporting_only > 0 {
        intro.push_str(&format!(
            "\n{} in report mode: nothing changed there; their dormant credentials are what an enforce run would change.",
            plural(reporting_only, "account is", "accounts are"),
        ));
    }
    if t.not_in_organization > 0 {
        intro.push_str(&format!(
            "\n{} not in the organization's list of accounts.",
            plural(t.not_in_organization, "account reporting is", "accounts reporting are"),
        ));
    }
    if t.rejected > 0 {
        intro.push_str(&format!(
            "\n:warning: {} in the report bucket not read (not in its layout, unreadable, or of another schema \
             version): `cargo xtask report` lists them.",
            plural(t.rejected, "object", "objects"),
        ));
    }

    let mut sections = Vec::new();
    let changed: Vec<String> = view
        .accounts
        .iter()
        .filter_map(|row| Some(line(&format!("{}: {}", account_label(row), changes_and_failures(row)?))))
        .collect();
    if !changed.is_empty() {
        sections.push(bounded_section("*Accounts with changes or failures*", &changed));
    }
    let stale: Vec<String> = view
        .flagged(Flag::Stale)
        .map(|row| {
            let last = row.latest.as_ref().map_or_else(String::new, |l| {
                format!(
                    ": last run {} UTC, {} hours ago",
                    l.started.date(),
                    (view.generated_at - l.started).whole_hours()
                )
            });
            line(&format!("{}{last}", account_label(row)))
        })
        .collect();
    if !stale.is_empty() {
        sections.push(bounded_section(
            &format!("*Stale: no run for more than {hours} hours*"),
            &stale,
        ));
    }
    let missing: Vec<String> = view
        .flagged(Flag::Missing)
        .map(|row| line(&account_label(row)))
        .collect();
    if !missing.is_empty() {
        sections.push(bounded_section(
            &format!(
                "*Missing: active accounts with no report in the last {}*",
                plural(view.days as usize, "day", "days")
            ),
            &missing,
        ));
    }
    if sections.is_empty() {
        intro.push_str("\n:white_check_mark: No account changed or failed anything, and none is stale or missing.");
    }

    let intro: String = intro.chars().take(MAX_SECTION_CHARS).collect();
    let section = |text: &str| json!({"type": "section", "text": {"type": "mrkdwn", "text": text}});
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": title.chars().take(150).collect::<String>()}}),
    ];
    blocks.push(section(&intro));
    let mut chars = intro.len();
    for text in &sections {
        // A few sections of bounded size: always within one message; checked anyway.
        if blocks.len() + 1 > MAX_BLOCKS || chars + text.len() > MAX_MESSAGE_CHARS {
            break;
        }
        chars += text.len();
        blocks.push(section(text));
    }
    json!({"text": title, "blocks": blocks})
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use time::macros::datetime;
    use time::{Duration, OffsetDateTime};

    use super::*;
    use crate::model::org::{OrgAccount, RunCounts, StoredRun, ViewOptions};

    const NOW: OffsetDateTime = datetime!(2026-12-02 09:00 UTC);

    fn run(account: &str, hours_ago: i64, mode: Mode, counts: RunCounts) -> StoredRun {
        let started = NOW - Duration::hours(hours_ago);
        StoredRun {
            key: crate::model::org::report_key(account, started),
            account_id: account.to_string(),
            started,
            generated_at: started,
            mode,
            counts,
        }
    }

    fn account(id: &str, name: &str) -> OrgAccount {
        OrgAccount {
            id: id.to_string(),
            name: name.to_string(),
            status: "ACTIVE".to_string(),
        }
    }

    fn options() -> ViewOptions {
        ViewOptions::DEFAULT
    }

    /// Every section's text.
    fn texts(message: &Value) -> Vec<String> {
        message["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| b["type"] == "section")
            .map(|b| b["text"]["text"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn the_digest_shows_totals_changes_failures_stale_and_missing_accounts_by_name() {
        let counts = |users, dormant, changed, failed, warned, deny| RunCounts {
            users_evaluated: users,
            dormant_found: dormant,
            changed,
            failed,
            warned,
            deny_policies: deny,
            users_denied: Some(deny + 4),
            ..RunCounts::default()
        };
        let runs = vec![
            run(
                "111111111111",
                3,
                Mode::Enforce,
                RunCounts {
                    skipped: 2,
                    ..counts(40, 3, 3, 0, 2, 1)
                },
            ),
            run("222222222222", 4, Mode::Enforce, counts(10, 1, 0, 1, 0, 0)),
            run("333333333333", 60, Mode::Enforce, counts(5, 0, 0, 0, 0, 0)),
            run("444444444444", 2, Mode::Report, counts(7, 2, 0, 0, 1, 0)),
        ];
        let org = [
            account("111111111111", "prod"),
            account("222222222222", "payments"),
            account("333333333333", "sandbox"),
            account("444444444444", "dev"),
            account("555555555555", "legacy"),
        ];
        let rejected = vec![crate::model::org::Rejected::new("reports/x", "not a report key")];
        let view = OrgView::build(runs, rejected, Some(&org), NOW, options());
        let message = org_digest(&view, None);
        assert_eq!(message["text"], "iam-janitor · organization · 2026-12-02");
        let sections = texts(&message);
        let intro = &sections[0];
        assert!(
            intro.starts_with(
                "*4 accounts reporting* (each one's latest run): *62 users* evaluated, *6 dormant credentials* found, \
                 *3 changes*, *2* skipped, *1 failure*, *3 warnings*, *17 users* with a deny policy."
            ),
            "{intro}"
        );
        assert!(
            intro.contains("The organization has 5 active accounts: 3 ran in the last 48 hours, 1 stale, 1 missing."),
            "{intro}"
        );
        assert!(intro.contains("1 account is in report mode"), "{intro}");
        assert!(intro.contains("1 object in the report bucket not read"), "{intro}");
        let all = sections.join("\n");
        assert!(
            all.contains("*Accounts with changes or failures* (2)\n• payments (222222222222): 1 failed\n• prod (111111111111): 3 changed"),
            "{all}"
        );
        assert!(
            all.contains(
                "*Stale: no run for more than 48 hours* (1)\n• sandbox (333333333333): last run 2026-11-29 UTC, 60 hours ago"
            ),
            "{all}"
        );
        assert!(
            all.contains("*Missing: active accounts with no report in the last 30 days* (1)\n• legacy (555555555555)"),
            "{all}"
        );
        assert!(!all.contains("dev (444444444444)"), "nothing to look at in dev: {all}");
    }

    #[test]
    fn unknown_accounts_are_said_and_no_account_is_missing() {
        let runs = vec![run("111111111111", 3, Mode::Enforce, RunCounts::default())];
        let view = OrgView::build(runs, Vec::new(), None, NOW, options());
        let message = org_digest(&view, Some("AccessDeniedException: not allowed"));
        let all = texts(&message).join("\n");
        assert!(
            all.contains(
                "The organization's accounts unknown (AccessDeniedException: not allowed): missing accounts are not shown."
            ),
            "{all}"
        );
        assert!(!all.contains("Missing"), "{all}");
        assert!(
            all.contains(":white_check_mark: No account changed or failed anything"),
            "{all}"
        );
        // Unknown, whatever the reason given.
        let all = texts(&org_digest(&view, None)).join("\n");
        assert!(all.contains("The organization's accounts unknown: missing"), "{all}");
    }

    #[test]
    fn a_large_organization_is_one_message_under_slacks_limits() {
        let failed = RunCounts {
            failed: 2,
            changed: 1,
            ..RunCounts::default()
        };
        let mut runs = Vec::new();
        let mut org = Vec::new();
        for i in 0..3000u64 {
            let id = format!("{:012}", 100_000_000_000 + i);
            // A long name, with what mrkdwn must not read and a key ID.
            org.push(account(
                &id,
                &format!("team-<{i}>-&-AKIAIOSFODNN7EXAMPLE-{}", "x".repeat(30)),
            ));
            match i % 3 {
                0 => runs.push(run(&id, 1, Mode::Enforce, failed)),
                1 => runs.push(run(&id, 50, Mode::Enforce, RunCounts::default())),
                _ => {}
            }
        }
        let view = OrgView::build(runs, Vec::new(), Some(&org), NOW, options());
        let message = org_digest(&view, None);
        let blocks = message["blocks"].as_array().unwrap();
        assert!(blocks.len() <= 50);
        let sections = texts(&message);
        assert_eq!(sections.len(), 4, "intro, changes, stale, missing");
        let mut total = 0;
        for text in &sections {
            assert!(text.chars().count() <= 3000, "{}", text.chars().count());
            total += text.chars().count();
        }
        assert!(total <= 40_000);
        let all = message.to_string();
        assert!(!all.contains("AKIAIOSFODNN7EXAMPLE"), "unredacted key ID");
        assert!(
            !all.contains("<1") && all.contains("team-&lt;0&gt;-&amp;-AKIA…MPLE"),
            "escaped"
        );
        for (section, n) in sections[1..].iter().zip([1000, 1000, 1000]) {
            assert!(section.contains(&format!("({n})\n")), "{section}");
            let listed = section
                .lines()
                .filter(|l| l.starts_with("• ") && !l.contains("more"))
                .count();
            assert!((1..=MAX_LISTED).contains(&listed), "{listed}");
            assert!(section.ends_with(&format!("• …and {} more", n - listed)), "{section}");
        }
    }
}
