//! The Slack digest: one per run, built as Block Kit JSON from the report (pure), split
//! under Slack's limits, and posted to an incoming webhook (I/O).
//!
//! Access key IDs are redacted to their first and last four characters everywhere in
//! the digest, including inside reasons. Posting never blocks remediation: it runs after
//! the changes, with a timeout per request, honours 429 `Retry-After` a bounded number of
//! times, and reports failure as a value for the caller to log.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};

use crate::model::report::{Action, Finding, Kind, Report, Status, credential_label};
use crate::settings::SlackWebhook;

/// Slack rejects section text over 3,000 characters.
pub(crate) const MAX_SECTION_CHARS: usize = 2_900;
/// Slack allows 50 blocks per message.
pub(crate) const MAX_BLOCKS: usize = 45;
/// Keep each message well under Slack's 40,000-character text limit.
pub(crate) const MAX_MESSAGE_CHARS: usize = 30_000;
/// Per-request timeout.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts per message (429 and 5xx are retried).
const MAX_ATTEMPTS: u32 = 3;
/// The longest Retry-After honoured; beyond it the digest is given up.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// `AKIA…WXYZ`: the first and last four characters of a key ID.
pub fn redact_key_id(id: &str) -> String {
    let chars: Vec<char> = id.chars().collect();
    if chars.len() <= 8 {
        return "…".to_string();
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

fn looks_like_key_id(word: &str) -> bool {
    word.len() >= 16
        && word.len() <= 128
        && ["AKIA", "ASIA", "ABIA", "ACCA"].iter().any(|p| word.starts_with(p))
        && word.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// Redacts every access-key-ID-looking word of a text.
pub fn redact_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if looks_like_key_id(word) {
            out.push_str(&redact_key_id(word));
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// "1 change", "3 changes".
pub(crate) fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Escapes Slack mrkdwn control characters.
pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn finding_line(f: &Finding) -> String {
    let credential = match (&f.kind, &f.access_key_id) {
        (Kind::AccessKey, Some(id)) => format!("access key `{}`", redact_key_id(id)),
        _ => credential_label(f),
    };
    let services = match f.services.as_deref() {
        Some(list) if !list.is_empty() => format!(" [{}]", list.join(", ")),
        _ => String::new(),
    };
    escape(&format!(
        "• `{}` {credential}{services}: {}",
        f.user,
        redact_text(&f.reason)
    ))
}

/// Whether a run is news for the account's channel: a change made, planned or failed, a
/// warning, a skip that needs a person ([`crate::model::report::ReasonCode::needs_attention`]), rejected or
/// suspicious data, something not checked, or the circuit breaker. Skips alone (exempt
/// users, grace, changes already made) are the rule working, every day: they are counted
/// in the report, not posted.
pub fn is_news(report: &Report) -> bool {
    report
        .findings
        .iter()
        .any(|f| f.status != Status::Skipped || f.reason_code.needs_attention())
        || !report.rejected_rows.is_empty()
        || !report.suspicious_tags.is_empty()
        || !report.not_checked.is_empty()
        || report.summary.circuit_breaker.is_some()
        || report.not_stored.is_some()
}

/// The digest's messages (webhook payloads). Empty when there is no news ([`is_news`]).
pub fn digest(report: &Report) -> Vec<Value> {
    if !is_news(report) {
        return Vec::new();
    }
    let account = report.account_id.as_deref().unwrap_or("unknown account");
    let enforce = report.enforce;
    let s = &report.summary;
    let title = format!(
        "iam-janitor · {account} · {}",
        if enforce { "enforce" } else { "report only" }
    );
    let users = plural(s.users_evaluated, "user", "users");
    let mut intro = if enforce {
        format!(
            "*{}*, *{}*, *{}* skipped, *{}* failed ({users} evaluated).",
            plural(s.applied, "change made", "changes made"),
            plural(s.warnings, "warning", "warnings"),
            s.skipped,
            s.failed
        )
    } else {
        format!(
            "Report mode, nothing was changed: an enforce run *would* make *{}*. *{}*, *{}* skipped ({users} evaluated).",
            plural(s.planned, "change", "changes"),
            plural(s.warnings, "warning", "warnings"),
            s.skipped
        )
    };
    if let Some(line) = report.least_privilege_progress() {
        intro.push_str(&format!(
            "\n:hourglass_flowing_sand: {}",
            line[..1].to_uppercase() + &line[1..]
        ));
    }
    if let Some(b) = &s.circuit_breaker {
        intro.push_str(&format!(
            "\n:rotating_light: Circuit breaker: {} changes planned, more than max-actions {}. {}",
            b.planned_changes,
            b.max_actions,
            if b.tripped {
                format!(
                    "{}{}; review the report, then raise the limit or fix the data.",
                    b.outcome()[..1].to_uppercase(),
                    &b.outcome()[1..]
                )
            } else {
                "An enforce run would change nothing.".to_string()
            }
        ));
    }

    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    let mut add = |title: &str, pred: &dyn Fn(&Finding) -> bool| {
        let lines: Vec<String> = report.findings.iter().filter(|f| pred(f)).map(finding_line).collect();
        if !lines.is_empty() {
            groups.push((format!("*{title}* ({})", lines.len()), lines));
        }
    };
    add("Changed", &|f| f.status == Status::Applied);
    add("Would change", &|f| {
        f.action != Action::Warn && f.status == Status::Planned
    });
    add("Failed", &|f| f.status == Status::Failed);
    add("Warnings: will be disabled unless used", &|f| f.action == Action::Warn);
    add("Skipped", &|f| f.status == Status::Skipped);
    if !report.rejected_rows.is_empty() {
        let lines = report
            .rejected_rows
            .iter()
            .map(|r| {
                escape(&format!(
                    "• line {} ({}): {}",
                    r.line,
                    r.user.as_deref().unwrap_or("?"),
                    redact_text(&r.reason)
                ))
            })
            .collect();
        groups.push((
            "*Credential-report rows not understood, not acted on*".to_string(),
            lines,
        ));
    }

    if !report.not_checked.is_empty() {
        let lines = report
            .not_checked
            .iter()
            .map(|what| escape(&format!("• {}", redact_text(what))))
            .collect();
        groups.push(("*Not checked this run*".to_string(), lines));
    }
    if let Some(why) = &report.not_stored {
        groups.push((
            "*This run's report was not stored for the organization view* (the run is not affected)".to_string(),
            vec![escape(&format!("• {}", redact_text(why)))],
        ));
    }
    if !report.suspicious_tags.is_empty() {
        let lines = report
            .suspicious_tags
            .iter()
            .map(|t| {
                escape(&format!(
                    "• {}: `{}={}` ({})",
                    t.user,
                    t.key,
                    redact_text(&t.value),
                    redact_text(&t.reason)
                ))
            })
            .collect();
        groups.push((
            format!(
                "*Suspicious tags, ignored: someone may want these users never disabled* ({})",
                report.suspicious_tags.len()
            ),
            lines,
        ));
    }

    // Sections of at most MAX_SECTION_CHARS, each group starting a new section.
    let mut sections: Vec<String> = Vec::new();
    for (heading, lines) in groups {
        let mut current = heading;
        for line in lines {
            let line: String = line.chars().take(MAX_SECTION_CHARS - 50).collect();
            if current.len() + line.len() + 1 > MAX_SECTION_CHARS {
                sections.push(std::mem::take(&mut current));
            }
            if !current.is_empty() {
                current.push('\n');
            }
            current.push_str(&line);
        }
        sections.push(current);
    }

    // Messages of at most MAX_BLOCKS blocks and MAX_MESSAGE_CHARS characters.
    let header = |part: usize| {
        let t = if part == 0 {
            title.clone()
        } else {
            format!("{title} (continued {})", part + 1)
        };
        json!({"type": "header", "text": {"type": "plain_text", "text": t.chars().take(150).collect::<String>()}})
    };
    let section = |text: &str| json!({"type": "section", "text": {"type": "mrkdwn", "text": text}});
    let mut messages = Vec::new();
    let mut blocks = vec![header(0), section(&intro)];
    let mut chars = intro.len();
    for text in sections {
        if blocks.len() + 1 > MAX_BLOCKS || chars + text.len() > MAX_MESSAGE_CHARS {
            messages.push(std::mem::take(&mut blocks));
            blocks.push(header(messages.len()));
            chars = 0;
        }
        chars += text.len();
        blocks.push(section(&text));
    }
    messages.push(blocks);
    messages
        .into_iter()
        .map(|blocks| json!({"text": title, "blocks": blocks}))
        .collect()
}

/// How posting went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostOutcome {
    pub sent: usize,
    pub total: usize,
    pub error: Option<String>,
}

/// Posts the messages in order; stops at the first message that cannot be delivered.
pub async fn post(webhook: &SlackWebhook, messages: &[Value]) -> PostOutcome {
    let mut outcome = PostOutcome {
        sent: 0,
        total: messages.len(),
        error: None,
    };
    if messages.is_empty() {
        return outcome;
    }
    let client = match client() {
        Ok(c) => c,
        Err(e) => {
            outcome.error = Some(e);
            return outcome;
        }
    };
    for message in messages {
        match post_one(&client, webhook, message).await {
            Ok(()) => outcome.sent += 1,
            Err(e) => {
                outcome.error = Some(e);
                break;
            }
        }
    }
    outcome
}

type Client = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Full<Bytes>,
>;

fn client() -> Result<Client, String> {
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .map_err(|e| format!("no TLS root certificates: {e}"))?
        .https_or_http()
        .enable_http1()
        .build();
    Ok(hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build(connector))
}

async fn post_one(client: &Client, webhook: &SlackWebhook, message: &Value) -> Result<(), String> {
    let body = Bytes::from(message.to_string());
    for attempt in 1..=MAX_ATTEMPTS {
        let request = hyper::Request::post(webhook.url())
            .header("content-type", "application/json")
            .body(Full::new(body.clone()))
            .map_err(|e| format!("bad webhook request: {e}"))?;
        let exchange = async {
            let response = client
                .request(request)
                .await
                .map_err(|e| format!("webhook unreachable: {e}"))?;
            let status = response.status();
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            let text = response
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            Ok::<_, String>((status, retry_after, text))
        };
        let (status, retry_after, text) = match tokio::time::timeout(REQUEST_TIMEOUT, exchange).await {
            Err(_) => return Err(format!("webhook did not answer within {} s", REQUEST_TIMEOUT.as_secs())),
            Ok(Err(e)) => return Err(e),
            Ok(Ok(r)) => r,
        };
        if status.is_success() {
            return Ok(());
        }
        let wait = if status.as_u16() == 429 {
            Duration::from_secs(retry_after.unwrap_or(1))
        } else if status.is_server_error() {
            Duration::from_secs(1)
        } else {
            return Err(format!(
                "webhook answered {status}: {}",
                String::from_utf8_lossy(&text).chars().take(200).collect::<String>()
            ));
        };
        if wait > MAX_RETRY_AFTER || attempt == MAX_ATTEMPTS {
            return Err(format!("webhook answered {status} {attempt} times; giving up"));
        }
        tracing::warn!(
            status = status.as_u16(),
            wait_secs = wait.as_secs(),
            "slack asked to retry"
        );
        tokio::time::sleep(wait).await;
    }
    Err("webhook retries exhausted".to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn key_ids_are_redacted() {
        assert_eq!(redact_key_id("AKIAIOSFODNN7EXAMPLE"), "AKIA…MPLE");
        assert_eq!(
            redact_text("access key AKIAIOSFODNN7EXAMPLE is already inactive"),
            "access key AKIA…MPLE is already inactive"
        );
        assert_eq!(redact_text("user AKIAshort stays"), "user AKIAshort stays");
    }

    use crate::model::report::{Report, Summary};
    use crate::settings::Mode;

    fn report(n: usize) -> Report {
        let findings = (0..n)
            .map(|i| Finding {
                user: format!("user-{i:05}-with-a-longish-name"),
                arn: format!("arn:aws:iam::111122223333:user/user-{i:05}"),
                kind: if i % 3 == 0 {
                    Kind::UnusedServices
                } else {
                    Kind::AccessKey
                },
                access_key_id: (i % 3 != 0).then(|| format!("AKIAEXAMPLE{i:09}")),
                access_key_slot: Some(1),
                credential_id: None,
                credential_slot: None,
                last_used: None,
                idle_days: Some(120),
                action: if i % 3 == 0 {
                    Action::AttachDenyPolicy
                } else {
                    Action::DeactivateAccessKey
                },
                status: Status::Applied,
                reason: format!("access key AKIAEXAMPLE{i:09} idle 120 days (never used), more than 90 days"),
                reason_code: crate::model::report::ReasonCode::Dormant,
                services: (i % 3 == 0).then(|| vec!["ec2".to_string(), "rds".to_string()]),
            })
            .collect();
        let mut r = Report {
            schema_version: crate::model::report::REPORT_SCHEMA_VERSION,
            account_id: Some("111122223333".into()),
            generated_at: time::OffsetDateTime::UNIX_EPOCH,
            enforce: true,
            mode: Mode::Enforce,
            credential_report_generated_at: None,
            dormant_days: 90,
            warn_days: 14,
            findings,
            rejected_rows: vec![],
            suspicious_tags: vec![],
            not_checked: vec![],
            summary: Summary::default(),
            not_stored: None,
        };
        r.recount();
        r
    }

    #[test]
    fn a_large_run_is_split_under_slacks_limits_and_loses_nothing() {
        let messages = digest(&report(3000));
        assert!(messages.len() > 1);
        let mut lines = 0;
        for m in &messages {
            let blocks = m["blocks"].as_array().unwrap();
            assert!(blocks.len() <= 50, "{} blocks", blocks.len());
            let text_len: usize = blocks
                .iter()
                .filter_map(|b| b["text"]["text"].as_str())
                .map(|t| {
                    assert!(t.chars().count() <= 3000, "section of {} chars", t.chars().count());
                    t.chars().count()
                })
                .sum();
            assert!(text_len <= 40_000);
            let text = m.to_string();
            assert!(!text.contains("AKIAEXAMPLE0"), "unredacted key ID");
            lines += blocks
                .iter()
                .filter_map(|b| b["text"]["text"].as_str())
                .map(|t| t.lines().filter(|l| l.starts_with("• ")).count())
                .sum::<usize>();
        }
        assert_eq!(lines, 3000);
        assert!(messages[0].to_string().contains("[ec2, rds]"));
    }

    #[test]
    fn nothing_to_say_is_no_message() {
        assert!(digest(&report(0)).is_empty());
    }

    #[test]
    fn suspicious_tags_alone_are_news() {
        use crate::model::report::{SuspiciousKind, SuspiciousTag};
        let mut r = report(0);
        r.suspicious_tags.push(SuspiciousTag {
            user: "sly".into(),
            key: "IAM-JANITOR:RESTORED".into(),
            value: "2026-11-18T00:00:00Z".into(),
            kind: SuspiciousKind::CaseVariant,
            reason: "another spelling of one of iam-janitor's own tag keys".into(),
        });
        r.recount();
        assert_eq!(r.summary.suspicious_tags, 1);
        let messages = digest(&r);
        assert_eq!(messages.len(), 1);
        let text = messages[0].to_string();
        assert!(text.contains("Suspicious tags, ignored"), "{text}");
        assert!(
            text.contains("sly: `IAM-JANITOR:RESTORED=2026-11-18T00:00:00Z`"),
            "{text}"
        );
    }

    #[test]
    fn skips_alone_are_not_news_and_skips_that_need_a_person_are() {
        use crate::model::report::ReasonCode;
        let skipped = |code| {
            let mut r = report(2);
            for f in &mut r.findings {
                f.status = Status::Skipped;
                f.reason_code = code;
            }
            r.recount();
            r
        };
        // The rule working, every day: exempt break-glass users, grace, done already.
        for code in [
            ReasonCode::Exempt,
            ReasonCode::Grace,
            ReasonCode::AlreadyDone,
            ReasonCode::TimeBudget,
        ] {
            assert!(digest(&skipped(code)).is_empty(), "{code:?}");
        }
        // A person can act.
        for code in [ReasonCode::TagQuota, ReasonCode::NeedsReview, ReasonCode::AdvisorFailed] {
            assert_eq!(digest(&skipped(code)).len(), 1, "{code:?}");
        }
        // With news, the skips are in the digest too (as counts and lines).
        let mut r = skipped(ReasonCode::Exempt);
        r.findings[0].status = Status::Planned;
        r.findings[0].reason_code = ReasonCode::Warning;
        r.recount();
        let text = digest(&r)[0].to_string();
        assert!(text.contains("*1* skipped"), "{text}");
    }

    #[test]
    fn a_report_not_stored_is_news_and_says_why() {
        let mut r = report(1);
        r.findings[0].status = Status::Skipped;
        r.findings[0].reason_code = crate::model::report::ReasonCode::Exempt;
        r.recount();
        assert!(digest(&r).is_empty());
        r.not_stored = Some("report bucket b: access denied writing reports/account=1/x.json".to_string());
        let text = digest(&r)[0].to_string();
        assert!(
            text.contains("was not stored") && text.contains("report bucket b: access denied"),
            "{text}"
        );
    }

    #[test]
    fn escapes_mrkdwn() {
        assert_eq!(escape("a<b>&c"), "a&lt;b&gt;&amp;c");
    }
}
