//! How `report` shows the organization's view: a table for the terminal, JSON for
//! scripts, and one self-contained HTML page to share (inline CSS, an inline SVG chart,
//! a little inline JavaScript to sort the table; nothing fetched). Pure.
//!
//! The page is well-formed XHTML as well as HTML (every element closed, attributes
//! quoted, no named entities but XML's five, the script in a CDATA section), so that it
//! can be read by an XML parser, as the tests do.

use std::fmt::Write as _;

use iam_janitor::model::org::{AccountRow, Flag, OrgView, TrendDay};
use serde::Serialize;
use time::OffsetDateTime;

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Html,
}

/// The JSON output's schema version: it changes when a field is removed or its meaning
/// changes; fields may be added within a version.
pub const VIEW_SCHEMA_VERSION: u32 = 1;

/// What is shown: the view and where it came from.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Page<'a> {
    #[serde(flatten)]
    pub view: &'a OrgView,
    pub bucket: &'a str,
}

pub fn render(page: &Page<'_>, format: Format) -> String {
    match format {
        Format::Table => table(page),
        Format::Json => json(page),
        Format::Html => html(page),
    }
}

/// `--format json`: the view with its schema version and the bucket.
pub fn json(page: &Page<'_>) -> String {
    #[derive(Serialize)]
    struct Json<'a> {
        schema_version: u32,
        #[serde(flatten)]
        page: &'a Page<'a>,
    }
    let mut text = serde_json::to_string_pretty(&Json {
        schema_version: VIEW_SCHEMA_VERSION,
        page,
    })
    .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    text.push('\n');
    text
}

/// `2026-03-10 06:00 UTC`.
fn human_time(t: OffsetDateTime) -> String {
    t.format(time::macros::format_description!(
        "[year]-[month]-[day] [hour]:[minute] UTC"
    ))
    .unwrap_or_default()
}

/// `2026-03-10T06:00:00Z`.
fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// How long before `now`: `5 h ago`, `3 d ago`.
fn age(now: OffsetDateTime, t: OffsetDateTime) -> String {
    let hours = (now - t).whole_hours();
    if hours < 48 {
        format!("{hours} h ago")
    } else {
        format!("{} d ago", hours / 24)
    }
}

/// An account's name for a terminal: control characters (escape sequences) replaced.
/// A count some reports lack (older ones): `-` when unknown.
fn count(n: Option<usize>) -> String {
    n.map_or_else(|| "-".to_string(), |n| n.to_string())
}

fn plain(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { '?' } else { c }).collect()
}

fn flags_text(row: &AccountRow) -> String {
    row.flags.iter().map(|f| f.label()).collect::<Vec<_>>().join(", ")
}

/// `prod (111111111111)` or the ID alone.
fn account_label(row: &AccountRow) -> String {
    match row.name.as_deref().filter(|n| !n.is_empty()) {
        Some(name) => format!("{} ({})", plain(name), row.account_id),
        None => row.account_id.clone(),
    }
}

fn window_line(page: &Page<'_>) -> String {
    let v = page.view;
    format!(
        "bucket {} · {} to {} ({} days, UTC) · stale after {} h · generated {}",
        plain(page.bucket),
        v.first_day,
        v.last_day,
        v.days,
        v.stale_after_hours,
        human_time(v.generated_at)
    )
}

fn totals_line(v: &OrgView) -> String {
    let t = &v.totals;
    let reporting = match t.organization_accounts {
        Some(active) => format!("{} of {active} active accounts reporting", t.accounts_reporting),
        None => format!("{} accounts reporting", t.accounts_reporting),
    };
    format!(
        "{reporting} · {} users · {} dormant credentials found · {} changed ({} in the window) · {} warned · {} failed · \
         {} users with a deny policy · {} breakers tripped",
        t.latest.users_evaluated,
        t.latest.dormant_found,
        t.latest.changed,
        t.changed_in_window,
        t.latest.warned,
        t.latest.failed,
        count(t.latest.users_denied),
        t.breakers_tripped
    )
}

/// `--format table`.
pub fn table(page: &Page<'_>) -> String {
    let v = page.view;
    let mut out = String::new();
    let _ = writeln!(out, "iam-janitor organization report · {}", window_line(page));
    let _ = writeln!(out, "{}", totals_line(v));
    if !v.organization_known {
        let _ = writeln!(
            out,
            "the organization's accounts are unknown: accounts that never reported are not shown"
        );
    }
    let lists = [
        (Flag::Failed, "failed (a change failed in the latest run)".to_string()),
        (
            Flag::NotChecked,
            "not checked (the latest run could not check something)".to_string(),
        ),
        (Flag::Breaker, "circuit breaker tripped".to_string()),
        (
            Flag::Stale,
            format!("stale (no run for more than {} hours)", v.stale_after_hours),
        ),
        (Flag::Missing, "missing (no report in the window)".to_string()),
        (Flag::NotInOrganization, "not in the organization".to_string()),
    ];
    for (flag, title) in lists {
        let rows: Vec<&AccountRow> = v.flagged(flag).collect();
        if rows.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n{title}: {}", rows.len());
        for row in rows {
            match &row.latest {
                Some(latest) if flag == Flag::Stale => {
                    let _ = writeln!(
                        out,
                        "  {}: last run {} ({})",
                        account_label(row),
                        human_time(latest.started),
                        age(v.generated_at, latest.started)
                    );
                }
                _ => {
                    let _ = writeln!(out, "  {}", account_label(row));
                }
            }
        }
    }
    if !v.rejected.is_empty() {
        let _ = writeln!(out, "\nrejected objects (not counted): {}", v.rejected.len());
        for r in &v.rejected {
            let _ = writeln!(out, "  {}: {}", plain(&r.key), plain(&r.reason));
        }
    }
    if v.accounts.is_empty() {
        let _ = writeln!(out, "\nNo report in the window.");
        return out;
    }

    let header = [
        "ACCOUNT", "NAME", "FLAGS", "LAST RUN", "MODE", "USERS", "DORMANT", "CHANGED", "WARNED", "FAILED", "DENIED",
        "RUNS",
    ];
    let rows: Vec<Vec<String>> = v
        .accounts
        .iter()
        .map(|row| {
            let mut cells = vec![
                row.account_id.clone(),
                plain(row.name.as_deref().unwrap_or("")),
                flags_text(row),
            ];
            match &row.latest {
                Some(l) => cells.extend([
                    human_time(l.started),
                    l.mode.to_string(),
                    l.counts.users_evaluated.to_string(),
                    l.counts.dormant_found.to_string(),
                    l.counts.changed.to_string(),
                    l.counts.warned.to_string(),
                    l.counts.failed.to_string(),
                    count(l.counts.users_denied),
                ]),
                None => cells.extend(["never".to_string()].into_iter().chain((0..7).map(|_| "-".to_string()))),
            }
            cells.push(row.runs_in_window.to_string());
            cells
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    // Text columns left, counts right.
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut l = String::new();
        for (i, cell) in cells.enumerate() {
            if i < 5 {
                let _ = write!(l, "{cell:<w$}  ", w = widths[i]);
            } else {
                let _ = write!(l, "{cell:>w$}  ", w = widths[i]);
            }
        }
        l.trim_end().to_string()
    };
    out.push('\n');
    let _ = writeln!(out, "{}", line(&mut header.iter().copied()));
    for row in &rows {
        let _ = writeln!(out, "{}", line(&mut row.iter().map(String::as_str)));
    }
    out
}

/// Escapes text for HTML and XML, in text and in quoted attributes alike. Characters
/// that XML 1.0 does not allow (most C0 controls) become U+FFFD.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c < ' ' || c == '\u{7f}' || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
:root { --ink: #1b1f24; --muted: #57606a; --line: #d0d7de; --bg: #ffffff; --soft: #f6f8fa;
  --bad: #b42318; --bad-bg: #fee4e2; --warn: #8a5a00; --warn-bg: #fff4d6; --info: #3b4a5a; --info-bg: #eaeef2;
  --found: #5b6fd6; --changed: #2e9d5b; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1200px; padding: 24px; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: var(--bg); }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 28px 0 10px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
.meta { color: var(--muted); margin: 0; }
code { font: 12px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.totals { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap: 10px; margin: 0; }
.totals div { background: var(--soft); border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; }
.totals dt { color: var(--muted); font-size: 12px; }
.totals dd { margin: 2px 0 0; font-size: 22px; font-weight: 600; }
.totals .bad dd { color: var(--bad); }
.callout { border-left: 4px solid var(--warn); background: var(--warn-bg); padding: 8px 12px; margin: 10px 0; border-radius: 0 6px 6px 0; }
.callout.bad { border-color: var(--bad); background: var(--bad-bg); }
.callout.info { border-color: var(--info); background: var(--info-bg); }
.callout h3 { font-size: 14px; margin: 0 0 4px; }
.callout ul { margin: 0; padding-left: 20px; }
.ok { color: var(--changed); font-weight: 600; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid var(--line); padding: 6px 8px; text-align: left; vertical-align: top; }
th { background: var(--soft); font-size: 12px; white-space: nowrap; }
th.sortable { cursor: pointer; user-select: none; }
th.sortable::after { content: " \2195"; color: var(--muted); }
th[aria-sort="ascending"]::after { content: " \2191"; color: var(--ink); }
th[aria-sort="descending"]::after { content: " \2193"; color: var(--ink); }
td.n, th.n { text-align: right; }
tfoot td { font-weight: 600; background: var(--soft); }
tr.flagged td:first-child { box-shadow: inset 3px 0 0 var(--bad); }
.badge { display: inline-block; border-radius: 10px; padding: 0 8px; font-size: 12px; margin: 0 4px 2px 0; white-space: nowrap; }
.badge.failed, .badge.not_checked, .badge.breaker { color: var(--bad); background: var(--bad-bg); }
.badge.stale, .badge.missing { color: var(--warn); background: var(--warn-bg); }
.badge.not_in_organization { color: var(--info); background: var(--info-bg); }
.chart { width: 100%; height: auto; max-height: 320px; }
.chart text { font-size: 11px; fill: var(--muted); }
.legend { color: var(--muted); margin: 4px 0 0; }
.swatch { display: inline-block; width: 10px; height: 10px; margin: 0 4px 0 12px; }
footer { margin-top: 32px; color: var(--muted); font-size: 12px; }
@media print { body { max-width: none; padding: 0; } th.sortable::after { content: ""; } }
"#;

/// Sorts the table by the clicked header: by each cell's `data-sort` (numbers as
/// numbers), again to reverse. Without JavaScript the table stays in its first order.
const SCRIPT: &str = r#"
(function () {
  var table = document.getElementById("accounts-table");
  if (!table) { return; }
  var headers = table.tHead.rows[0].cells;
  for (var i = 0; i < headers.length; i++) {
    (function (th, column) {
      th.className += " sortable";
      th.tabIndex = 0;
      function sort() {
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        for (var j = 0; j < headers.length; j++) { headers[j].removeAttribute("aria-sort"); }
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        var numeric = th.getAttribute("data-type") === "number";
        rows.sort(function (a, b) {
          var x = a.cells[column].getAttribute("data-sort") || a.cells[column].textContent;
          var y = b.cells[column].getAttribute("data-sort") || b.cells[column].textContent;
          var order = numeric ? Number(x) - Number(y) : x.localeCompare(y);
          return ascending ? order : -order;
        });
        rows.forEach(function (row) { body.appendChild(row); });
      }
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (e) { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sort(); } });
    })(headers[i], i);
  }
})();
"#;

/// `--format html`: one self-contained page.
pub fn html(page: &Page<'_>) -> String {
    let v = page.view;
    let t = &v.totals;
    let mut out = String::new();
    let title = format!("iam-janitor: IAM credentials across the organization, {}", v.last_day);
    out.push_str(
        "<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\" xml:lang=\"en\">\n<head>\n",
    );
    out.push_str("<meta charset=\"utf-8\"/>\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n");
    let _ = writeln!(out, "<title>{}</title>", escape(&title));
    let _ = writeln!(out, "<style>{STYLE}</style>\n</head>\n<body>");

    // Heading.
    let _ = writeln!(out, "<header>\n<h1>IAM credentials across the organization</h1>");
    let _ = writeln!(
        out,
        "<p class=\"meta\">Generated <time datetime=\"{}\">{}</time> · window {} to {} ({} days, UTC) · stale after {} hours · bucket <code>{}</code></p>\n</header>",
        rfc3339(v.generated_at),
        escape(&human_time(v.generated_at)),
        v.first_day,
        v.last_day,
        v.days,
        v.stale_after_hours,
        escape(page.bucket)
    );

    // Totals.
    out.push_str("<section id=\"totals\">\n<h2>Totals</h2>\n");
    out.push_str("<p class=\"meta\">Over each account's latest run in the window.</p>\n<dl class=\"totals\">\n");
    let reporting = match t.organization_accounts {
        Some(active) => format!("{} of {active}", t.accounts_reporting),
        None => t.accounts_reporting.to_string(),
    };
    let cards: [(&str, String, bool); 10] = [
        ("Accounts reporting", reporting, t.missing > 0),
        ("Users evaluated", t.latest.users_evaluated.to_string(), false),
        ("Dormant credentials found", t.latest.dormant_found.to_string(), false),
        ("Changed (latest runs)", t.latest.changed.to_string(), false),
        ("Changed in the window", t.changed_in_window.to_string(), false),
        ("Warned", t.latest.warned.to_string(), false),
        ("Failed", t.latest.failed.to_string(), t.latest.failed > 0),
        ("Users with a deny policy", count(t.latest.users_denied), false),
        ("Stale accounts", t.stale.to_string(), t.stale > 0),
        ("Missing accounts", t.missing.to_string(), t.missing > 0),
    ];
    for (label, value, bad) in cards {
        let class = if bad { " class=\"bad\"" } else { "" };
        let _ = writeln!(
            out,
            "<div{class}><dt>{}</dt><dd>{}</dd></div>",
            escape(label),
            escape(&value)
        );
    }
    out.push_str("</dl>\n</section>\n");

    // What needs a look.
    out.push_str("<section id=\"attention\">\n<h2>Needs attention</h2>\n");
    let lists = [
        (Flag::Failed, "bad", "A change failed in the latest run"),
        (Flag::NotChecked, "bad", "The latest run could not check something"),
        (Flag::Breaker, "bad", "The circuit breaker stopped the latest run"),
        (Flag::Stale, "warn", "Stale: no run for more than the limit"),
        (
            Flag::Missing,
            "warn",
            "Missing: active accounts with no report in the window",
        ),
        (
            Flag::NotInOrganization,
            "info",
            "Reporting, but not in the organization's list of accounts",
        ),
    ];
    let mut any = false;
    for (flag, class, heading) in lists {
        let rows: Vec<&AccountRow> = v.flagged(flag).collect();
        if rows.is_empty() {
            continue;
        }
        any = true;
        let class = if class == "warn" {
            String::new()
        } else {
            format!(" {class}")
        };
        let _ = writeln!(
            out,
            "<div class=\"callout{class}\" id=\"{}\">\n<h3>{} ({})</h3>\n<ul>",
            flag_id(flag),
            escape(heading),
            rows.len()
        );
        for row in rows {
            let last = match (&row.latest, flag) {
                (Some(l), Flag::Stale) => format!(
                    ": last run {} ({})",
                    human_time(l.started),
                    age(v.generated_at, l.started)
                ),
                _ => String::new(),
            };
            let _ = writeln!(out, "<li>{}{}</li>", escape(&account_label_raw(row)), escape(&last));
        }
        out.push_str("</ul>\n</div>\n");
    }
    if !v.organization_known {
        any = true;
        out.push_str(
            "<div class=\"callout info\" id=\"organization-unknown\"><h3>The organization's accounts are unknown</h3>\
             <p>The accounts could not be listed, so accounts that never reported are not shown.</p></div>\n",
        );
    }
    if !any {
        out.push_str(
            "<p class=\"ok\">Nothing needs attention: every account reported recently and nothing failed.</p>\n",
        );
    }
    out.push_str("</section>\n");

    // Trend.
    out.push_str("<section id=\"trend\">\n<h2>Trend</h2>\n");
    out.push_str(
        "<p class=\"meta\">Per UTC day: credentials found idle, over each account's latest run of that day; \
         changes, over every run of that day.</p>\n",
    );
    out.push_str(&chart(&v.trend));
    out.push_str(
        "<p class=\"legend\"><span class=\"swatch\" style=\"background: var(--found)\"></span>dormant credentials found\
         <span class=\"swatch\" style=\"background: var(--changed)\"></span>changed</p>\n</section>\n",
    );

    // Accounts.
    out.push_str("<section id=\"accounts\">\n<h2>Accounts</h2>\n");
    out.push_str(
        "<p class=\"meta\">Each account's latest run; those needing attention first. Click a heading to sort.</p>\n",
    );
    out.push_str("<div class=\"scroll\">\n<table id=\"accounts-table\">\n<thead>\n<tr>");
    let columns: [(&str, bool); 13] = [
        ("Account", false),
        ("Name", false),
        ("Flags", true),
        ("Last run (UTC)", false),
        ("Mode", false),
        ("Users", true),
        ("Dormant found", true),
        ("Changed", true),
        ("Changed in window", true),
        ("Warned", true),
        ("Failed", true),
        ("Users denied", true),
        ("Runs", true),
    ];
    for (name, numeric) in columns {
        let attributes = if numeric {
            " data-type=\"number\" class=\"n\""
        } else {
            " data-type=\"text\""
        };
        let _ = write!(out, "<th scope=\"col\"{attributes}>{}</th>", escape(name));
    }
    out.push_str("</tr>\n</thead>\n<tbody>\n");
    for (rank, row) in v.accounts.iter().enumerate() {
        let class = if row.flags.is_empty() { "" } else { " class=\"flagged\"" };
        let _ = write!(out, "<tr{class} id=\"account-{}\">", escape(&row.account_id));
        let _ = write!(out, "<td><code>{}</code></td>", escape(&row.account_id));
        let _ = write!(out, "<td>{}</td>", escape(row.name.as_deref().unwrap_or("")));
        let _ = write!(out, "<td data-sort=\"{rank}\">");
        for flag in &row.flags {
            let _ = write!(
                out,
                "<span class=\"badge {}\">{}</span>",
                flag_id(*flag),
                escape(flag.label())
            );
        }
        out.push_str("</td>");
        let number = |out: &mut String, n: usize| {
            let _ = write!(out, "<td class=\"n\" data-sort=\"{n}\">{n}</td>");
        };
        match &row.latest {
            Some(l) => {
                let _ = write!(
                    out,
                    "<td data-sort=\"{}\"><time datetime=\"{}\">{}</time></td><td>{}</td>",
                    l.started.unix_timestamp(),
                    rfc3339(l.started),
                    escape(&human_time(l.started)),
                    l.mode
                );
                for n in [
                    l.counts.users_evaluated,
                    l.counts.dormant_found,
                    l.counts.changed,
                    row.changed_in_window,
                    l.counts.warned,
                    l.counts.failed,
                ] {
                    number(&mut out, n);
                }
                match l.counts.users_denied {
                    Some(n) => number(&mut out, n),
                    None => out.push_str("<td class=\"n\" data-sort=\"-1\">-</td>"),
                }
            }
            None => {
                out.push_str("<td data-sort=\"0\">never</td><td></td>");
                for _ in 0..7 {
                    out.push_str("<td class=\"n\" data-sort=\"-1\">-</td>");
                }
            }
        }
        number(&mut out, row.runs_in_window);
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n<tfoot>\n<tr><td colspan=\"5\">Organization</td>");
    for n in [
        t.latest.users_evaluated,
        t.latest.dormant_found,
        t.latest.changed,
        t.changed_in_window,
        t.latest.warned,
        t.latest.failed,
    ] {
        let _ = write!(out, "<td class=\"n\">{n}</td>");
    }
    let _ = write!(
        out,
        "<td class=\"n\">{}</td><td class=\"n\">{}</td>",
        count(t.latest.users_denied),
        t.runs
    );
    out.push_str("</tr>\n</tfoot>\n</table>\n</div>\n</section>\n");

    // Rejected objects.
    if !v.rejected.is_empty() {
        let _ = writeln!(
            out,
            "<section id=\"rejected\">\n<h2>Objects not counted ({})</h2>\n<ul>",
            v.rejected.len()
        );
        for r in &v.rejected {
            let _ = writeln!(out, "<li><code>{}</code>: {}</li>", escape(&r.key), escape(&r.reason));
        }
        out.push_str("</ul>\n</section>\n");
    }

    out.push_str(
        "<footer><p>Definitions: <em>dormant found</em> counts credentials the latest run found idle beyond the \
         limit, whatever was done with them (changed, planned, exempt, already done, failed); <em>changed</em> counts \
         what it changed (credentials disabled, deny policies written); <em>users denied</em> counts the users with a \
         deny policy in place once it was done (in report mode, what is in place; - for a report from before the \
         count). Generated by <code>cargo xtask report</code>.</p></footer>\n",
    );
    let _ = writeln!(out, "<script>//<![CDATA[{SCRIPT}//]]></script>\n</body>\n</html>");
    out
}

/// The account for people, unescaped: `prod (111111111111)`.
fn account_label_raw(row: &AccountRow) -> String {
    match row.name.as_deref().filter(|n| !n.is_empty()) {
        Some(name) => format!("{name} ({})", row.account_id),
        None => row.account_id.clone(),
    }
}

fn flag_id(flag: Flag) -> &'static str {
    match flag {
        Flag::Failed => "failed",
        Flag::NotChecked => "not_checked",
        Flag::Breaker => "breaker",
        Flag::Stale => "stale",
        Flag::Missing => "missing",
        Flag::NotInOrganization => "not_in_organization",
    }
}

/// The smallest of 1, 2, 5 × 10ⁿ at or above `max` (at least 1): the chart's top.
fn nice_ceiling(max: usize) -> usize {
    let mut step = 1;
    loop {
        for m in [1, 2, 5] {
            if step * m >= max {
                return step * m;
            }
        }
        step *= 10;
    }
}

/// The trend as an SVG bar chart: per day, dormant credentials found and changed, each
/// bar with a `<title>` (the tooltip); the y axis with three ticks, the x axis with at
/// most about ten dates.
fn chart(days: &[TrendDay]) -> String {
    const WIDTH: f64 = 900.0;
    const HEIGHT: f64 = 260.0;
    const LEFT: f64 = 48.0;
    const RIGHT: f64 = 12.0;
    const TOP: f64 = 14.0;
    const BOTTOM: f64 = 44.0;
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let top = nice_ceiling(days.iter().map(|d| d.dormant_found.max(d.changed)).max().unwrap_or(0));
    let y = |n: usize| TOP + plot_h - plot_h * (n as f64) / (top as f64);
    let band = plot_w / (days.len().max(1) as f64);
    let bar = (band * 0.4).min(24.0);

    let mut out = String::new();
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-labelledby=\"trend-title\">"
    );
    let _ = writeln!(
        out,
        "<title id=\"trend-title\">Dormant credentials found and changed per day</title>"
    );
    // Y axis: 0, half, top.
    for tick in [0, top / 2, top] {
        let ty = y(tick);
        let _ = writeln!(
            out,
            "<line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{ty:.1}\" y2=\"{ty:.1}\" stroke=\"#d0d7de\" stroke-width=\"1\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{tick}</text>",
            WIDTH - RIGHT,
            LEFT - 6.0,
            ty + 4.0
        );
    }
    let _ = writeln!(
        out,
        "<text x=\"12\" y=\"{:.1}\" text-anchor=\"middle\" transform=\"rotate(-90 12 {:.1})\">credentials</text>",
        TOP + plot_h / 2.0,
        TOP + plot_h / 2.0
    );
    let every = days.len().div_ceil(10).max(1);
    for (i, day) in days.iter().enumerate() {
        let x0 = LEFT + band * (i as f64) + (band - 2.0 * bar) / 2.0;
        let _ = writeln!(out, "<g class=\"day\" data-day=\"{}\">", day.day);
        for (n, x, color, what) in [
            (day.dormant_found, x0, "#5b6fd6", "dormant credentials found"),
            (day.changed, x0 + bar, "#2e9d5b", "changed"),
        ] {
            let _ = writeln!(
                out,
                "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{bar:.1}\" height=\"{:.1}\" fill=\"{color}\"><title>{}: {n} {what} (accounts reporting: {}, failed: {})</title></rect>",
                y(n),
                TOP + plot_h - y(n),
                day.day,
                day.accounts_reporting,
                day.failed
            );
        }
        if i % every == 0 || i + 1 == days.len() {
            let _ = writeln!(
                out,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{:02}-{:02}</text>",
                LEFT + band * (i as f64) + band / 2.0,
                TOP + plot_h + 16.0,
                u8::from(day.day.month()),
                day.day.day()
            );
        }
        out.push_str("</g>\n");
    }
    let _ = writeln!(
        out,
        "<line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#57606a\" stroke-width=\"1\"/>",
        WIDTH - RIGHT,
        TOP + plot_h,
        TOP + plot_h
    );
    let _ = writeln!(
        out,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">day (UTC, month-day)</text>",
        LEFT + plot_w / 2.0,
        HEIGHT - 6.0
    );
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
#[path = "render_tests.rs"]
mod tests;
