#![allow(clippy::unwrap_used, clippy::expect_used)]

use iam_janitor::model::org::{OrgAccount, Rejected, RunCounts, StoredRun, ViewOptions};
use iam_janitor::model::report::Mode;
use quick_xml::events::Event;
use time::macros::datetime;

use super::*;

const NOW: OffsetDateTime = datetime!(2026-03-10 12:00 UTC);

fn run(account: &str, started: OffsetDateTime, counts: RunCounts) -> StoredRun {
    StoredRun {
        key: format!("reports/account={account}/date={}/x.json", started.date()),
        account_id: account.to_string(),
        started,
        generated_at: started,
        mode: Mode::Enforce,
        counts,
    }
}

/// prod (changes), a failing one, a stale one, a missing one whose name needs escaping.
fn view() -> OrgView {
    let organization = [
        ("111111111111", "prod", "ACTIVE"),
        ("222222222222", "payments", "ACTIVE"),
        ("333333333333", "sandbox", "ACTIVE"),
        ("444444444444", "<script>alert(1)</script> & co", "ACTIVE"),
    ]
    .map(|(id, name, status)| OrgAccount {
        id: id.to_string(),
        name: name.to_string(),
        status: status.to_string(),
    });
    let counts = |dormant_found, changed, failed| RunCounts {
        users_evaluated: 20,
        dormant_found,
        changed,
        failed,
        ..RunCounts::default()
    };
    let denied = |n, counts: RunCounts| RunCounts {
        users_denied: n,
        ..counts
    };
    let runs = vec![
        run(
            "111111111111",
            datetime!(2026-03-10 06:00 UTC),
            denied(Some(5), counts(4, 3, 0)),
        ),
        run(
            "111111111111",
            datetime!(2026-03-09 06:00 UTC),
            denied(Some(9), counts(5, 1, 0)),
        ),
        run(
            "222222222222",
            datetime!(2026-03-10 06:00 UTC),
            denied(Some(2), counts(2, 0, 1)),
        ),
        // Stored before the count of users denied.
        run("333333333333", datetime!(2026-03-07 06:00 UTC), counts(1, 0, 0)),
    ];
    let rejected = vec![Rejected::new(
        "reports/account=555555555555/date=2026-03-10/y.json",
        "schema_version 2: this reader knows version 1 only",
    )];
    OrgView::build(
        runs,
        rejected,
        Some(&organization),
        NOW,
        ViewOptions {
            days: 7,
            ..ViewOptions::DEFAULT
        },
    )
}

fn page(view: &OrgView) -> Page<'_> {
    Page {
        view,
        bucket: "iam-janitor-reports-123456789012-us-east-1",
    }
}

/// A parsed XML element: its name, attributes and children.
#[derive(Debug, Default)]
struct Element {
    name: String,
    attributes: Vec<(String, String)>,
    children: Vec<Node>,
}

#[derive(Debug)]
enum Node {
    Element(Element),
    Text(String),
}

impl Element {
    fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|c| match c {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    /// Every element below, depth first.
    fn descendants(&self) -> Vec<&Element> {
        let mut all = Vec::new();
        for child in self.elements() {
            all.push(child);
            all.extend(child.descendants());
        }
        all
    }

    fn find(&self, name: &str) -> Vec<&Element> {
        self.descendants().into_iter().filter(|e| e.name == name).collect()
    }

    fn by_id(&self, id: &str) -> Option<&Element> {
        self.descendants().into_iter().find(|e| e.attribute("id") == Some(id))
    }

    fn text(&self) -> String {
        self.children
            .iter()
            .map(|c| match c {
                Node::Text(t) => t.clone(),
                Node::Element(e) => e.text(),
            })
            .collect()
    }
}

fn element(start: &quick_xml::events::BytesStart<'_>) -> Element {
    Element {
        name: String::from_utf8(start.name().as_ref().to_vec()).unwrap(),
        attributes: start
            .attributes()
            .map(|a| {
                let a = a.unwrap();
                (
                    String::from_utf8(a.key.as_ref().to_vec()).unwrap(),
                    a.unescape_value().unwrap().into_owned(),
                )
            })
            .collect(),
        children: Vec::new(),
    }
}

/// Parses a page as XML (end tags checked; only XML's own entities), into its root.
fn parse_xml(text: &str) -> Element {
    let mut reader = quick_xml::Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut stack = vec![Element::default()];
    loop {
        let event = reader
            .read_event()
            .unwrap_or_else(|e| panic!("not well-formed at byte {}: {e}", reader.buffer_position()));
        match event {
            Event::Start(start) => stack.push(element(&start)),
            Event::Empty(start) => stack.last_mut().unwrap().children.push(Node::Element(element(&start))),
            Event::End(_) => {
                let done = stack.pop().unwrap();
                stack.last_mut().unwrap().children.push(Node::Element(done));
            }
            Event::Text(t) => {
                let text = t.decode().unwrap().into_owned();
                stack.last_mut().unwrap().children.push(Node::Text(text));
            }
            Event::GeneralRef(r) => {
                let text = match r.resolve_char_ref().unwrap() {
                    Some(c) => c.to_string(),
                    None => {
                        let name = r.decode().unwrap();
                        quick_xml::escape::resolve_xml_entity(&name)
                            .unwrap_or_else(|| panic!("&{name}; is not an XML entity"))
                            .to_string()
                    }
                };
                stack.last_mut().unwrap().children.push(Node::Text(text));
            }
            Event::CData(c) => {
                let text = c.decode().unwrap().into_owned();
                stack.last_mut().unwrap().children.push(Node::Text(text));
            }
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::DocType(_) | Event::Comment(_) => {}
        }
    }
    assert_eq!(stack.len(), 1, "unclosed elements");
    let mut document = stack.pop().unwrap();
    assert_eq!(document.elements().count(), 1, "one root element");
    match document.children.drain(..).find(|c| matches!(c, Node::Element(_))) {
        Some(Node::Element(root)) => root,
        _ => unreachable!(),
    }
}

#[test]
fn escape_makes_text_safe_in_elements_and_attributes() {
    assert_eq!(
        escape("<script>alert(\"x\")</script> & 'co'"),
        "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;co&#39;"
    );
    assert_eq!(escape("a\u{1b}[31mb\tc"), "a\u{FFFD}[31mb\tc", "no control characters");
    assert_eq!(escape("prod-eu · ünïcode"), "prod-eu · ünïcode");
}

#[test]
fn the_html_page_parses_and_has_one_row_per_account() {
    let view = view();
    let html = html(&page(&view));
    let root = parse_xml(&html);
    assert_eq!(root.name, "html");

    let table = root.by_id("accounts-table").unwrap();
    let tbody = &table.find("tbody")[0];
    let rows: Vec<&Element> = tbody.elements().filter(|e| e.name == "tr").collect();
    assert_eq!(rows.len(), view.accounts.len());
    let ids: Vec<String> = rows.iter().map(|r| r.find("td")[0].text()).collect();
    let expected: Vec<&str> = view.accounts.iter().map(|a| a.account_id.as_str()).collect();
    assert_eq!(ids, expected, "in the view's order: attention first");
    assert_eq!(ids.len(), 4);
    // Every row has every column.
    let columns = table.find("th").len();
    assert!(rows.iter().all(|r| r.find("td").len() == columns));

    // The name is text, not markup: escaped, and read back as written.
    assert!(!html.contains("<script>alert"), "the account name is escaped");
    let missing = root.by_id("account-444444444444").unwrap();
    assert_eq!(missing.find("td")[1].text(), "<script>alert(1)</script> & co");
    assert_eq!(root.find("script").len(), 1, "only the page's own script");

    // The chart: inline SVG, a titled bar per series per day.
    let svg = &root.find("svg")[0];
    assert_eq!(svg.attribute("xmlns"), Some("http://www.w3.org/2000/svg"));
    let bars = svg.find("rect");
    assert_eq!(bars.len(), 2 * 7);
    assert!(bars.iter().all(|b| b.find("title").len() == 1));
    assert!(
        svg.text()
            .contains("2026-03-10: 6 dormant credentials found (accounts reporting: 2, failed: 1)"),
        "{}",
        svg.text()
    );

    // Self-contained: nothing is fetched.
    for e in root.descendants() {
        for attribute in ["src", "href"] {
            assert!(e.attribute(attribute).is_none(), "<{} {attribute}=…>", e.name);
        }
    }
    assert!(root.find("link").is_empty());
}

#[test]
fn the_html_page_calls_out_stale_and_missing_accounts_and_says_where_it_is_from() {
    let view = view();
    let root = parse_xml(&html(&page(&view)));
    let stale = root.by_id("stale").unwrap().text();
    assert!(
        stale.contains("sandbox (333333333333)") && stale.contains("3 d ago"),
        "{stale}"
    );
    let missing = root.by_id("missing").unwrap().text();
    assert!(
        missing.contains("<script>alert(1)</script> & co (444444444444)"),
        "{missing}"
    );
    let failed = root.by_id("failed").unwrap().text();
    assert!(failed.contains("payments (222222222222)"), "{failed}");
    let header = root.find("header")[0].text();
    for part in [
        "iam-janitor-reports-123456789012-us-east-1",
        "2026-03-04 to 2026-03-10",
        "2026-03-10 12:00 UTC",
    ] {
        assert!(header.contains(part), "{part}: {header}");
    }
    let rejected = root.by_id("rejected").unwrap().text();
    assert!(rejected.contains("account=555555555555") && rejected.contains("schema_version 2"));
    let totals = root.by_id("totals").unwrap().text();
    assert!(totals.contains("Accounts reporting3 of 4"), "{totals}");
}

#[test]
fn the_table_lists_flags_then_accounts_needing_attention_first() {
    let view = view();
    let text = table(&page(&view));
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].contains("bucket iam-janitor-reports-123456789012-us-east-1"),
        "{text}"
    );
    assert!(
        lines[1].starts_with(
            "3 of 4 active accounts reporting · 60 users · 7 dormant credentials found · 3 changed (4 in the window)"
        ),
        "{text}"
    );
    assert!(text.contains("stale (no run for more than 48 hours): 1\n  sandbox (333333333333): last run 2026-03-07 06:00 UTC (3 d ago)"), "{text}");
    assert!(
        text.contains("missing (no report in the window): 1\n  <script>alert(1)</script> & co (444444444444)"),
        "{text}"
    );
    assert!(text.contains("rejected objects (not counted): 1"), "{text}");
    // Users denied: each account's latest run, summed where known.
    assert!(lines[1].contains(" · 7 users with a deny policy · "), "{text}");
    let header = lines.iter().position(|l| l.starts_with("ACCOUNT")).unwrap();
    assert!(lines[header].contains(" DENIED "), "{text}");
    let cells = |line: &str| line.split_whitespace().rev().nth(1).map(str::to_string);
    // The row's last two cells: users denied, then runs.
    assert_eq!(cells(lines[header + 1]).as_deref(), Some("2"), "{text}");
    assert_eq!(cells(lines[header + 2]).as_deref(), Some("-"), "{text}");
    assert_eq!(cells(lines[header + 4]).as_deref(), Some("5"), "{text}");
    let order: Vec<&str> = lines[header + 1..].iter().map(|l| &l[..12]).collect();
    assert_eq!(order, ["222222222222", "333333333333", "444444444444", "111111111111"]);
    assert!(lines[header + 1].contains("failed"));
    assert!(lines[header + 3].contains("missing") && lines[header + 3].contains("never"));
}

#[test]
fn the_table_strips_terminal_escapes_from_names() {
    let mut view = view();
    view.accounts[0].name = Some("evil\u{1b}]0;title\u{7}".to_string());
    let text = table(&page(&view));
    assert!(!text.contains('\u{1b}'));
    assert!(text.contains("evil?]0;title?"));
}

#[test]
fn the_json_has_its_schema_version_the_bucket_and_the_view() {
    let view = view();
    let json: serde_json::Value = serde_json::from_str(&json(&page(&view))).unwrap();
    assert_eq!(json["schema_version"], VIEW_SCHEMA_VERSION);
    assert_eq!(json["bucket"], "iam-janitor-reports-123456789012-us-east-1");
    assert_eq!(json["days"], 7);
    assert_eq!(json["totals"]["missing"], 1);
    assert_eq!(json["totals"]["stale"], 1);
    assert_eq!(json["accounts"].as_array().unwrap().len(), 4);
    assert_eq!(json["accounts"][0]["flags"], serde_json::json!(["failed"]));
    assert_eq!(json["accounts"][2]["latest"], serde_json::Value::Null);
    assert_eq!(json["trend"].as_array().unwrap().len(), 7);
}

#[test]
fn the_charts_top_is_a_round_number() {
    assert_eq!(
        [0, 1, 3, 7, 10, 11, 42, 260].map(nice_ceiling),
        [1, 1, 5, 10, 10, 20, 50, 500]
    );
}

#[test]
fn a_page_with_no_reports_still_parses() {
    let view = OrgView::build(Vec::new(), Vec::new(), None, NOW, ViewOptions::DEFAULT);
    let root = parse_xml(&html(&page(&view)));
    assert!(root.by_id("organization-unknown").is_some());
    assert!(root.find("tbody")[0].elements().next().is_none());
    assert!(table(&page(&view)).contains("No report in the window."));
}
