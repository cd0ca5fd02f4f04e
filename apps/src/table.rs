//! Numeric tables: comma-separated (or another delimiter) through the `csv` crate, or columns
//! separated by runs of whitespace as numpy writes them; plain or gzip; with metadata lines to
//! skip and an optional header.

use std::path::Path;

use crate::error::LoadError;
use crate::files::read_maybe_gzip;
use crate::text::{Column, Lines};

/// How to read a table.
#[derive(Clone, Debug, PartialEq)]
pub struct TableOptions {
    /// A one-byte delimiter, or `None` for runs of whitespace.
    pub delimiter: Option<u8>,
    pub header: bool,
    /// Lines to skip before the header or the first row (scikit-learn's metadata line).
    pub skip_rows: usize,
}

impl TableOptions {
    /// `,` for `.csv` / `.csv.gz` files, whitespace otherwise, unless `delimiter` says.
    pub fn for_file(path: &Path, delimiter: Option<u8>, header: bool, skip_rows: usize) -> Self {
        let name = path.to_string_lossy().to_lowercase();
        let is_csv = name.ends_with(".csv") || name.ends_with(".csv.gz");
        Self {
            delimiter: delimiter.or(is_csv.then_some(b',')),
            header,
            skip_rows,
        }
    }
}

/// The cells of a table, as text, with the line each row is on.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    pub header: Option<Vec<String>>,
    pub rows: Vec<Vec<String>>,
    pub lines: Vec<u64>,
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

/// Reads all rows; every row must have as many cells as the first.
pub fn read_table(path: &Path, options: &TableOptions) -> Result<Table, LoadError> {
    let bytes = read_maybe_gzip(path)?;
    let mut rows: Vec<(u64, Vec<String>)> = Vec::new();
    match options.delimiter {
        Some(delimiter) => {
            let lines = Lines::new(&bytes);
            let mut reader = csv::ReaderBuilder::new()
                .delimiter(delimiter)
                .has_headers(false)
                .flexible(true)
                .from_reader(bytes.as_slice());
            for record in reader.records() {
                let record = record.map_err(|e| LoadError::new(path, e.to_string()))?;
                let line = lines.of(record.position());
                rows.push((line, record.iter().map(|c| c.trim().to_string()).collect()));
            }
            rows.retain(|(_, cells)| !(cells.len() == 1 && cells[0].is_empty()));
        }
        None => {
            let text = std::str::from_utf8(&bytes)
                .map_err(|e| LoadError::new(path, format!("not UTF-8 text: {e}")))?;
            for (i, line) in text.lines().enumerate() {
                let cells: Vec<String> = line.split_whitespace().map(String::from).collect();
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
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(name: &str, text: &str, header: bool, skip_rows: usize) -> Result<Table, LoadError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        read_table(
            &path,
            &TableOptions::for_file(&path, None, header, skip_rows),
        )
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
}
