//! Results for a person: aligned columns under a header, two spaces apart (`token list`,
//! `org show`, `audit tail`). Programs get JSON instead (see [`OutputFormat`]).
//!
//! A cell never carries a control character to the terminal (a token name may hold any
//! character but U+0000): such characters are shown escaped, e.g. `\u{1b}`.

use std::io::IsTerminal as _;

use time::format_description::well_known::Rfc3339;

use crate::cli::OutputFormat;

/// The format in effect: `--json` or `--format`, else a table when stdout is a terminal, JSON
/// otherwise (piped or redirected).
pub fn output_format(format: Option<OutputFormat>, json: bool) -> OutputFormat {
    if json {
        return OutputFormat::Json;
    }
    format.unwrap_or_else(|| {
        if std::io::stdout().is_terminal() {
            OutputFormat::Table
        } else {
            OutputFormat::Json
        }
    })
}

/// Where a column's cells sit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Align {
    /// Text.
    Left,
    /// Numbers.
    Right,
}

/// One column: its title, alignment, width (in characters) and the longest cell it shows
/// (longer cells are cut, ending in `…`).
#[derive(Clone, Copy, Debug)]
pub struct Column {
    title: &'static str,
    align: Align,
    width: usize,
    max: usize,
}

impl Column {
    /// A left-aligned column as wide as its title, showing cells in full.
    pub const fn new(title: &'static str) -> Self {
        Self {
            title,
            align: Align::Left,
            width: title.len(),
            max: usize::MAX,
        }
    }

    /// Right-aligned.
    pub const fn right(mut self) -> Self {
        self.align = Align::Right;
        self
    }

    /// At least `width` characters wide (for rows that stream, whose widths cannot be fitted).
    pub const fn width(mut self, width: usize) -> Self {
        if width > self.width {
            self.width = width;
        }
        self
    }

    /// Cells longer than `max` characters (at least 1) are cut to `max`, the last being `…`.
    pub const fn max(mut self, max: usize) -> Self {
        self.max = if max == 0 { 1 } else { max };
        if self.width > self.max {
            self.width = self.max;
        }
        self
    }
}

/// A table of `N` columns. Print [`Table::header`] once, then [`Table::row`] per row: a row is
/// formatted on its own, so rows can stream (a cell wider than its column pushes the rest of
/// its row right; [`Table::fit`] avoids that when every row is known).
#[derive(Clone, Debug)]
pub struct Table<const N: usize> {
    columns: [Column; N],
}

impl<const N: usize> Table<N> {
    /// A table of these columns.
    pub const fn new(columns: [Column; N]) -> Self {
        Self { columns }
    }

    /// Widens each column to its longest cell in `rows` (up to the column's maximum).
    #[must_use]
    pub fn fit(mut self, rows: &[[String; N]]) -> Self {
        for row in rows {
            for (col, cell) in self.columns.iter_mut().zip(row) {
                let len = clean(cell).chars().count().min(col.max);
                col.width = col.width.max(len);
            }
        }
        self
    }

    /// The header line.
    pub fn header(&self) -> String {
        self.line(self.columns.map(|c| c.title.to_owned()).iter())
    }

    /// One row's line.
    pub fn row(&self, cells: &[String; N]) -> String {
        self.line(cells.iter())
    }

    fn line<'a>(&self, cells: impl Iterator<Item = &'a String>) -> String {
        let mut out = String::new();
        for (i, (col, cell)) in self.columns.iter().zip(cells).enumerate() {
            if i > 0 {
                out.push_str("  ");
            }
            let text = cut(&clean(cell), col.max);
            let pad = col.width.saturating_sub(text.chars().count());
            let last = i + 1 == N;
            match col.align {
                Align::Right => {
                    out.extend(std::iter::repeat_n(' ', pad));
                    out.push_str(&text);
                }
                Align::Left => {
                    out.push_str(&text);
                    if !last {
                        out.extend(std::iter::repeat_n(' ', pad));
                    }
                }
            }
        }
        out.truncate(out.trim_end().len());
        out
    }
}

/// A cell for a missing value.
pub const NONE: &str = "-";

/// A cell for an optional value: it, or [`NONE`].
pub fn or_none(v: Option<String>) -> String {
    v.unwrap_or_else(|| NONE.to_owned())
}

/// A timestamp to the second, in UTC: `2026-03-18T12:00:00Z`.
pub fn when(t: domain::time::Timestamp) -> String {
    let t = t.as_offset();
    t.replace_nanosecond(0)
        .unwrap_or(t)
        .format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// A lifetime in its largest whole unit, as `--expires-in` takes it: `30d`, `12h`, `90m`,
/// `59s`.
pub fn lifetime(l: domain::values::TokenLifetime) -> String {
    let secs = l.seconds();
    [("d", 86_400), ("h", 3600), ("m", 60)]
        .into_iter()
        .find(|(_, per)| secs % per == 0)
        .map_or_else(|| format!("{secs}s"), |(unit, per)| format!("{}{unit}", secs / per))
}

/// `s` with its control and text-direction characters escaped (`\n`, `\u{1b}`, ...).
fn clean(s: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| {
        c.is_control() || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !s.chars().any(unsafe_char) {
        return s.into();
    }
    s.chars()
        .map(|c| {
            if unsafe_char(c) {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}

/// `s` cut to `max` characters, the last being `…` when anything was cut.
fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells<const N: usize>(v: [&str; N]) -> [String; N] {
        v.map(str::to_owned)
    }

    #[test]
    fn columns_line_up_under_the_header() {
        let t = Table::new([Column::new("ID"), Column::new("NAME"), Column::new("N").right()]);
        let rows = [cells(["a", "longer name", "7"]), cells(["bbbb", "x", "1234"])];
        let t = t.fit(&rows);
        assert_eq!(t.header(), "ID    NAME            N");
        assert_eq!(t.row(&rows[0]), "a     longer name     7");
        assert_eq!(t.row(&rows[1]), "bbbb  x            1234");
    }

    #[test]
    fn the_last_column_is_not_padded() {
        let t = Table::new([Column::new("A").width(5), Column::new("DETAILS").width(30)]);
        assert_eq!(t.header(), "A      DETAILS");
        assert_eq!(t.row(&cells(["1", "x"])), "1      x");
        assert_eq!(t.row(&cells(["1", ""])), "1");
    }

    #[test]
    fn long_cells_are_cut_and_wide_cells_push_their_row() {
        let t = Table::new([Column::new("A").width(3), Column::new("B").max(5), Column::new("C")]);
        assert_eq!(t.row(&cells(["abcdef", "1234567", "z"])), "abcdef  1234…  z");
        assert_eq!(t.row(&cells(["a", "é€😀", "z"])), "a    é€😀  z");
        let fitted = t.fit(&[cells(["a", "0123456789", "z"])]);
        assert_eq!(fitted.header(), "A    B      C");
    }

    #[test]
    fn control_characters_never_reach_the_terminal() {
        let t = Table::new([Column::new("NAME")]);
        let row = t.row(&cells(["evil\u{1b}[2Jname\n\u{202e}x"]));
        assert!(!row.chars().any(|c| c.is_control() || c == '\u{202e}'), "{row:?}");
        assert_eq!(row, "evil\\u{1b}[2Jname\\u{a}\\u{202e}x");
    }

    #[test]
    fn timestamps_are_shown_to_the_second() {
        let t = time::OffsetDateTime::from_unix_timestamp_nanos(1_773_835_200_123_456_789).expect("valid");
        assert_eq!(when(domain::time::Timestamp::from_offset(t)), "2026-03-18T12:00:00Z");
    }

    #[test]
    fn lifetimes_are_shown_in_their_largest_whole_unit() {
        let l = |s: &str| lifetime(domain::values::TokenLifetime::parse(s).expect("valid"));
        assert_eq!(l("30d"), "30d");
        assert_eq!(l("48h"), "2d");
        assert_eq!(l("90m"), "90m");
        assert_eq!(l("3600s"), "1h");
        assert_eq!(l("61s"), "61s");
        assert_eq!(l("3650d"), "3650d");
    }

    #[test]
    fn json_is_chosen_by_flag_or_format() {
        assert_eq!(output_format(None, true), OutputFormat::Json);
        assert_eq!(output_format(Some(OutputFormat::Table), false), OutputFormat::Table);
        assert_eq!(output_format(Some(OutputFormat::Json), false), OutputFormat::Json);
    }
}
