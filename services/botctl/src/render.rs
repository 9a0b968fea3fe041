//! Human-readable output: aligned tables, key/value blocks, times, and the small text helpers
//! the commands share.

use serde_json::Value;

/// Columns separated by two spaces, padded to the widest cell; the last column is not padded,
/// so no line ends in whitespace.
pub struct Table {
    headers: Option<Vec<String>>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&str]) -> Self {
        Table {
            headers: Some(headers.iter().map(|h| (*h).to_owned()).collect()),
            rows: Vec::new(),
        }
    }

    /// A table without a header line (key/value blocks, issue lists).
    pub fn headerless() -> Self {
        Table {
            headers: None,
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells.iter().map(|c| clean(c)).collect());
    }

    pub fn render(&self) -> String {
        self.render_indented("")
    }

    /// The table, or `empty` (a line such as "No bots.") when it has no rows.
    pub fn render_or(&self, empty: &str) -> String {
        if self.rows.is_empty() {
            format!("{empty}\n")
        } else {
            self.render()
        }
    }

    pub fn render_indented(&self, indent: &str) -> String {
        let lines: Vec<&Vec<String>> = self.headers.iter().chain(self.rows.iter()).collect();
        let columns = lines.iter().map(|l| l.len()).max().unwrap_or(0);
        // Character count, not display width: wide characters (emoji, CJK) misalign a little,
        // which is an acceptable price for having no extra dependency.
        let widths: Vec<usize> = (0..columns)
            .map(|c| {
                lines
                    .iter()
                    .filter_map(|l| l.get(c))
                    .map(|cell| cell.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for line in lines {
            let mut text = String::from(indent);
            for (c, cell) in line.iter().enumerate() {
                if c > 0 {
                    text.push_str("  ");
                }
                text.push_str(cell);
                if c + 1 < line.len() {
                    let pad = widths[c].saturating_sub(cell.chars().count());
                    text.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.push_str(text.trim_end());
            out.push('\n');
        }
        out
    }
}

/// Keeps names chosen by other people from breaking the layout or driving the terminal:
/// line breaks and tabs become spaces, other control characters (escape sequences) `�`.
pub fn clean(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\n' | '\r' | '\t' => ' ',
            c if c.is_control() => '\u{FFFD}',
            c => c,
        })
        .collect()
}

/// A JSON value as a table cell: strings without quotes, `-` for null or absent.
pub fn cell(value: &Value) -> String {
    match value {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// An RFC 3339 time from the API as `2026-11-26 08:52 UTC`; `never` for null.
pub fn time(value: &Value) -> String {
    match value.as_str() {
        None => "never".to_owned(),
        Some(raw) => chrono::DateTime::parse_from_rfc3339(raw)
            .map(|t| {
                t.with_timezone(&chrono::Utc)
                    .format("%Y-%m-%d %H:%M UTC")
                    .to_string()
            })
            .unwrap_or_else(|_| raw.to_owned()),
    }
}

pub fn yes_no(value: &Value) -> String {
    if value.as_bool().unwrap_or(false) {
        "yes"
    } else {
        "no"
    }
    .to_owned()
}

/// `Demo Bot (#3)` from `{"id": 3, "name": "Demo Bot"}`; `-` for no bot.
pub fn bot_ref(bot: &Value) -> String {
    if bot.is_null() {
        return "-".to_owned();
    }
    match bot["name"].as_str() {
        Some(name) => format!("{name} (#{})", cell(&bot["id"])),
        None => format!("#{}", cell(&bot["id"])),
    }
}

/// One `component  rule  message` line per validation issue (`-` when no component).
pub fn issues_table(issues: &[Value]) -> Table {
    let mut table = Table::headerless();
    for issue in issues {
        table.row(vec![
            cell(&issue["component"]),
            cell(&issue["rule"]),
            cell(&issue["message"]),
        ]);
    }
    table
}

pub fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

/// Quotes for a POSIX shell: single quotes, an embedded `'` as `'\''`.
pub fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The API's JSON, indented, for `--json`.
pub fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn columns_align_to_the_widest_cell_without_trailing_spaces() {
        let mut table = Table::new(&["ID", "NAME", "STATUS"]);
        table.row(vec!["7".into(), "Web chat".into(), "active".into()]);
        table.row(vec!["12".into(), "Shop".into(), "-".into()]);
        assert_eq!(
            table.render(),
            "ID  NAME      STATUS\n\
             7   Web chat  active\n\
             12  Shop      -\n"
        );
    }

    #[test]
    fn an_empty_list_says_so_instead_of_a_lone_header() {
        let mut table = Table::new(&["ID", "NAME"]);
        assert_eq!(table.render_or("No bots."), "No bots.\n");
        table.row(vec!["1".into(), "a".into()]);
        assert_eq!(table.render_or("No bots."), "ID  NAME\n1   a\n");
    }

    #[test]
    fn width_counts_characters_not_bytes() {
        let mut table = Table::headerless();
        table.row(vec!["••••••••G0hI".into(), "x".into()]);
        table.row(vec!["abc".into(), "y".into()]);
        let rendered = table.render();
        let lines: Vec<&str> = rendered.lines().collect();
        assert_eq!(lines[0], "••••••••G0hI  x");
        assert_eq!(lines[1], "abc           y");
    }

    #[test]
    fn empty_last_cells_leave_no_trailing_whitespace() {
        let mut table = Table::headerless();
        table.row(vec!["a".into(), "".into()]);
        table.row(vec!["bbb".into(), "c".into()]);
        assert_eq!(table.render_indented("  "), "  a\n  bbb  c\n");
    }

    #[test]
    fn control_characters_in_names_cannot_break_lines_or_drive_the_terminal() {
        let mut table = Table::new(&["NAME"]);
        table.row(vec!["evil\nname\u{1b}[31m".into()]);
        assert_eq!(table.render(), "NAME\nevil name\u{FFFD}[31m\n");
    }

    #[test]
    fn issues_render_as_component_rule_message() {
        let issues = [
            json!({"component": "a", "rule": "dangling_next", "message": "points nowhere"}),
            json!({"component": null, "rule": "unknown_start", "message": "no such start"}),
        ];
        assert_eq!(
            issues_table(&issues).render(),
            "a  dangling_next  points nowhere\n\
             -  unknown_start  no such start\n"
        );
    }

    #[test]
    fn times_and_references_read_naturally() {
        assert_eq!(
            time(&json!("2026-11-26T08:52:57.123456Z")),
            "2026-11-26 08:52 UTC"
        );
        assert_eq!(time(&Value::Null), "never");
        assert_eq!(
            bot_ref(&json!({"id": 3, "name": "Demo Bot"})),
            "Demo Bot (#3)"
        );
        assert_eq!(bot_ref(&json!({"id": 3, "name": null})), "#3");
        assert_eq!(bot_ref(&Value::Null), "-");
    }

    #[test]
    fn shell_quoting_survives_single_quotes() {
        assert_eq!(shell_quote("abc"), "'abc'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
