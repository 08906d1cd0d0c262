//! A table as columns and cells, and its two formats: padded text for the
//! terminal and a markdown table for the report. Every table of the suite
//! (the cases, the probes, the peer comparison, a comparison with an earlier
//! run) is built once as a [`Table`] and printed either way.

#[derive(Clone, Debug, Default)]
pub(crate) struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// The first `left` columns are left-aligned in text, the rest right
    /// (the last, a note, always left).
    pub left: usize,
}

impl Table {
    pub fn new(header: &[&str], left: usize) -> Table {
        Table {
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
            left,
        }
    }

    pub fn push(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

    /// Columns padded to their widest cell.
    pub fn text(&self) -> String {
        let mut width: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for r in &self.rows {
            for (w, c) in width.iter_mut().zip(r) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let mut s = String::new();
            for (i, (c, w)) in cells.iter().zip(&width).enumerate() {
                let pad = " ".repeat(w - c.chars().count());
                let last = i + 1 == cells.len();
                if i < self.left || last {
                    s.push_str(c);
                    if !last {
                        s.push_str(&pad);
                    }
                } else {
                    s.push_str(&pad);
                    s.push_str(c);
                }
                if !last {
                    s.push_str("  ");
                }
            }
            s.trim_end().to_string() + "\n"
        };
        let mut s = line(&self.header);
        for r in &self.rows {
            s.push_str(&line(r));
        }
        s
    }

    /// A markdown table (pipes in cells escaped).
    pub fn markdown(&self) -> String {
        let mut s = format!("| {} |\n", self.header.join(" | "));
        s.push_str(&format!("|{}\n", "---|".repeat(self.header.len())));
        for r in &self.rows {
            let cells: Vec<String> = r.iter().map(|c| c.replace('|', "\\|")).collect();
            s.push_str(&format!("| {} |\n", cells.join(" | ")));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_formats_hold_every_cell() {
        let mut t = Table::new(&["name", "ms", "note"], 1);
        t.push(vec!["a|b".into(), "1.5".into(), "x".into()]);
        t.push(vec!["long name".into(), "10".into(), String::new()]);
        let text = t.text();
        assert!(
            text.lines()
                .nth(1)
                .unwrap()
                .starts_with("a|b        1.5  x"),
            "{text}"
        );
        let md = t.markdown();
        assert!(
            md.contains("| a\\|b | 1.5 | x |") && md.lines().count() == 4,
            "{md}"
        );
    }
}
