//! Numeric tables: delimited (comma, semicolon, tab, …) through the `csv` crate, or columns
//! separated by runs of whitespace as numpy writes them; plain or gzip, with or without a
//! UTF-8 byte-order mark; with metadata lines to skip and an optional header.

pub mod preprocessing;
pub mod source;

use std::io::BufRead;
use std::path::Path;

use crate::delimiter::{self, Delimiter};
use crate::error::LoadError;
use crate::files::read_text_start;
use crate::text::{Column, TrackLines, csv_error};

/// How to read a table.
#[derive(Clone, Debug, PartialEq)]
pub struct TableOptions {
    /// The field delimiter; `None` detects it from the first lines.
    pub delimiter: Option<Delimiter>,
    pub header: bool,
    /// Lines to skip before the header or the first row (scikit-learn's metadata line).
    pub skip_rows: usize,
}

/// The cells of a table, as text, with the line each row is on.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    pub header: Option<Vec<String>>,
    pub rows: Vec<Vec<String>>,
    pub lines: Vec<u64>,
    /// The delimiter the table was read with (given or detected).
    pub delimiter: Delimiter,
}

impl Table {
    pub fn width(&self) -> usize {
        self.rows.first().map_or(0, Vec::len)
    }

    /// The index of `column`; an index past the last column or an unknown name is an error.
    pub fn column(&self, column: &Column, path: &Path) -> Result<usize, LoadError> {
        match column {
            Column::Index(i) if *i < self.width() => Ok(*i),
            Column::Index(i) => Err(LoadError::new(
                path,
                format!("column {i} is out of range: the rows have {} columns (counted from 0)", self.width()),
            )),
            Column::Name(name) => self
                .header
                .as_ref()
                .and_then(|h| h.iter().position(|c| c == name))
                .ok_or_else(|| {
                    LoadError::new(
                        path,
                        match &self.header {
                            Some(h) => format!("no column named `{name}`; the header has {}", h.join(", ")),
                            None => format!("column `{name}` is a name, but the file is read without a header (--header)"),
                        },
                    )
                }),
        }
    }

    /// The number in row `row`, column `column`: missing values and text are errors naming
    /// the line and the column.
    pub fn number(&self, row: usize, column: usize, path: &Path) -> Result<f32, LoadError> {
        let cell = self.rows[row][column].trim();
        let at = format!("line {}, column {column}", self.lines[row]);
        let missing = ["", "na", "nan", "null", "?"];
        if missing.contains(&cell.to_lowercase().as_str()) {
            return Err(LoadError::new(
                path,
                format!("{at}: missing value `{cell}`"),
            ));
        }
        cell.parse::<f32>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| LoadError::new(path, format!("{at}: `{cell}` is not a number")))
    }
}

/// Reads all rows; every row must have as many cells as the first. Without a delimiter in
/// `options`, it is detected; a file no delimiter splits is read as one column. The file is
/// read as a stream, so a line longer than [`crate::text::MAX_LINE_BYTES`] is an error rather
/// than a line read into memory whole.
pub fn read_table(path: &Path, options: &TableOptions) -> Result<Table, LoadError> {
    let delimiter = match options.delimiter {
        Some(delimiter) => delimiter,
        None => {
            let sample = read_text_start(path, delimiter::SAMPLE_BYTES + 1)?;
            delimiter::detect(&sample, options.skip_rows, true).unwrap_or(Delimiter::Whitespace)
        }
    };
    let (stream, lines) = TrackLines::open(path)?;
    let mut rows: Vec<(u64, Vec<String>)> = Vec::new();
    match delimiter {
        Delimiter::Byte(delimiter) => {
            let mut reader = csv::ReaderBuilder::new()
                .delimiter(delimiter)
                .has_headers(false)
                .flexible(true)
                .from_reader(stream);
            for record in reader.records() {
                let lines = lines.borrow();
                let record = record.map_err(|e| csv_error(path, &lines, e))?;
                let line = lines.of(record.position());
                rows.push((line, record.iter().map(|c| c.trim().to_string()).collect()));
            }
            rows.retain(|(_, cells)| !(cells.len() == 1 && cells[0].is_empty()));
        }
        Delimiter::Whitespace => {
            for (i, line) in std::io::BufReader::new(stream).lines().enumerate() {
                let line = line.map_err(|e| match e.kind() {
                    std::io::ErrorKind::InvalidData if e.get_ref().is_none() => {
                        LoadError::new(path, format!("line {}: not UTF-8 text", i + 1))
                    }
                    _ => LoadError::new(path, e.to_string()),
                })?;
                // Quotes around a header's names are not part of them.
                let cells: Vec<String> = line
                    .split_whitespace()
                    .map(|cell| cell.trim_matches('"').to_string())
                    .collect();
                if !cells.is_empty() {
                    rows.push((i as u64 + 1, cells));
                }
            }
        }
    }
    let mut rows = rows
        .into_iter()
        .filter(|(line, _)| *line as usize > options.skip_rows);
    let header = if options.header {
        Some(
            rows.next()
                .map(|(_, cells)| cells)
                .ok_or_else(|| LoadError::new(path, "no header line"))?,
        )
    } else {
        None
    };
    let (lines, rows): (Vec<u64>, Vec<Vec<String>>) = rows.unzip();
    let Some(first) = rows.first() else {
        return Err(LoadError::new(path, "no rows of data"));
    };
    let width = header.as_ref().map_or(first.len(), Vec::len);
    if let Some((i, row)) = rows.iter().enumerate().find(|(_, r)| r.len() != width) {
        return Err(LoadError::new(
            path,
            format!(
                "line {}: {} fields where {} were expected",
                lines[i],
                row.len(),
                width
            ),
        ));
    }
    Ok(Table {
        header,
        rows,
        lines,
        delimiter,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(name: &str, text: &str, header: bool, skip_rows: usize) -> Result<Table, LoadError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let options = TableOptions {
            delimiter: None,
            header,
            skip_rows,
        };
        read_table(&path, &options)
    }

    #[test]
    fn reads_csv_with_metadata_and_header_and_whitespace_tables() {
        let table = read("t.csv", "2,2,meta\n\"a\",b,y\n1,2,3\n4, 5 ,6\n", true, 1).unwrap();
        assert_eq!(
            table.header.as_deref(),
            Some(["a", "b", "y"].map(String::from).as_slice())
        );
        assert_eq!(table.rows[1], ["4", "5", "6"]);
        assert_eq!(table.lines, [3, 4]);
        assert_eq!(
            table
                .column(&Column::Name("y".into()), Path::new("t.csv"))
                .unwrap(),
            2
        );

        let table = read("t.txt", "1  2\t3\n\n4 5 6\n", false, 0).unwrap();
        assert_eq!((table.rows.len(), table.lines.clone()), (2, vec![1, 3]));
        assert_eq!(table.number(1, 2, Path::new("t.txt")).unwrap(), 6.0);
        assert_eq!(table.delimiter, Delimiter::Whitespace);
    }

    #[test]
    fn semicolons_tabs_bom_crlf_and_quoted_headers_whatever_the_extension() {
        let table = read(
            "t.data",
            "\u{feff}\"x 1\";\"y\"\r\n1.5;2\r\n3;4\r\n",
            true,
            0,
        )
        .unwrap();
        assert_eq!(table.delimiter, Delimiter::Byte(b';'));
        assert_eq!(
            table.header.as_deref(),
            Some(["x 1", "y"].map(String::from).as_slice())
        );
        assert_eq!(table.rows, [["1.5", "2"], ["3", "4"]]);
        assert_eq!(table.lines, [2, 3]);
        let table = read("t.csv", "a\tb\n1\t2\n", true, 0).unwrap();
        assert_eq!(table.delimiter, Delimiter::Byte(b'\t'));
        let table = read("t", "\"a\" \"b\"\n1 2\n", true, 0).unwrap();
        assert_eq!(
            table.header.as_deref(),
            Some(["a", "b"].map(String::from).as_slice())
        );
    }

    #[test]
    fn bad_cells_and_rows_name_line_and_column() {
        let path = Path::new("t.csv");
        let table = read("t.csv", "1,x\n2,NA\n", false, 0).unwrap();
        assert_eq!(
            table.number(0, 1, path).unwrap_err().message,
            "line 1, column 1: `x` is not a number"
        );
        assert_eq!(
            table.number(1, 1, path).unwrap_err().message,
            "line 2, column 1: missing value `NA`"
        );
        let err = read("t.csv", "1,2\n3\n", false, 0).unwrap_err();
        assert_eq!(err.message, "line 2: 1 fields where 2 were expected");
        let err = table.column(&Column::Index(5), path).unwrap_err();
        assert!(
            err.message
                .contains("column 5 is out of range: the rows have 2 columns"),
            "{err}"
        );
        assert!(
            read("t.csv", "", false, 0)
                .unwrap_err()
                .message
                .contains("no rows")
        );
    }

    #[test]
    fn a_line_longer_than_the_limit_is_an_error_naming_it() {
        let cases = [
            ("long.csv", "1,2\n", Some(Delimiter::Byte(b','))),
            ("long.txt", "1 2\n", None),
        ];
        for (name, first, delimiter) in cases {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join(name);
            let mut bytes = first.as_bytes().to_vec();
            bytes.resize(bytes.len() + crate::text::MAX_LINE_BYTES as usize + 1, b'7');
            std::fs::write(&path, &bytes).unwrap();
            let options = TableOptions {
                delimiter,
                header: false,
                skip_rows: 0,
            };
            let err = read_table(&path, &options).unwrap_err();
            assert!(err.path.ends_with(name), "{err}");
            assert!(
                err.message.contains("line 2 is longer than 64 MiB"),
                "{name}: {err}"
            );
        }
    }
}
