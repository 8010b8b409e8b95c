//! A table as rows of cells, rendered as Markdown (padded so it also reads as plain text) or
//! as an HTML table. Every report section builds a [`Table`] once and renders it both ways.

use std::fmt::Write as _;

/// Rows of text cells under a header.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    /// Column titles.
    pub header: Vec<String>,
    /// Whether each column holds numbers (right-aligned).
    pub numeric: Vec<bool>,
    /// The rows, each as long as the header.
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with these columns; `numeric[i]` right-aligns column `i`.
    pub fn new(columns: &[(&str, bool)]) -> Self {
        Self {
            header: columns.iter().map(|(h, _)| (*h).to_owned()).collect(),
            numeric: columns.iter().map(|(_, n)| *n).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row (missing cells are left empty, extra ones dropped).
    pub fn push(&mut self, mut row: Vec<String>) {
        row.resize(self.header.len(), String::new());
        self.rows.push(row);
    }

    /// The table as Markdown, columns padded to equal widths.
    pub fn to_markdown(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| r.iter().map(|c| c.replace('|', "\\|")).collect())
            .collect();
        let width = |i: usize| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([self.header[i].chars().count(), 3])
                .max()
                .unwrap_or(3)
        };
        let widths: Vec<usize> = (0..self.header.len()).map(width).collect();
        let line = |cells: &[String]| {
            let mut s = String::from("|");
            for (i, cell) in cells.iter().enumerate() {
                let pad = " ".repeat(widths[i] - cell.chars().count());
                let _ = if self.numeric[i] {
                    write!(s, " {pad}{cell} |")
                } else {
                    write!(s, " {cell}{pad} |")
                };
            }
            s.push('\n');
            s
        };
        let mut out = line(&self.header);
        out.push('|');
        for (i, w) in widths.iter().enumerate() {
            let dashes = "-".repeat(*w);
            if self.numeric[i] {
                let _ = write!(out, " {}: |", &dashes[1..]);
            } else {
                let _ = write!(out, " {dashes} |");
            }
        }
        out.push('\n');
        for row in &rows {
            out.push_str(&line(row));
        }
        out
    }

    /// The table as an HTML `<table>`; every cell is escaped.
    pub fn to_html(&self) -> String {
        let mut out = String::from("<table>\n<thead><tr>");
        for (h, num) in self.header.iter().zip(&self.numeric) {
            let _ = write!(out, "<th{}>{}</th>", class(*num), escape(h));
        }
        out.push_str("</tr></thead>\n<tbody>\n");
        for row in &self.rows {
            out.push_str("<tr>");
            for (cell, num) in row.iter().zip(&self.numeric) {
                let _ = write!(out, "<td{}>{}</td>", class(*num), escape(cell));
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</tbody>\n</table>\n");
        out
    }
}

/// The cell of a value there is none of.
pub const DASH: &str = "–";

/// A number cell with `decimals` decimals, or [`DASH`] when there is none.
pub fn number(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| DASH.into(), |x| format!("{x:.decimals$}"))
}

fn class(numeric: bool) -> &'static str {
    if numeric { " class=\"num\"" } else { "" }
}

/// `s` as HTML or XML text or attribute value: `&`, `<`, `>`, `"` and `'` as entities, and
/// the control characters XML 1.0 forbids dropped.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_pads_and_aligns_html_escapes() {
        let mut t = Table::new(&[("name", false), ("value", true)]);
        t.push(vec!["a|b".into(), "1.5".into()]);
        t.push(vec!["<x>".into()]);
        assert_eq!(
            t.to_markdown(),
            "| name | value |\n| ---- | ----: |\n| a\\|b |   1.5 |\n| <x>  |       |\n"
        );
        let html = t.to_html();
        assert!(html.contains("<td>&lt;x&gt;</td>"), "{html}");
        assert!(html.contains("<td class=\"num\">1.5</td>"), "{html}");
    }
}
