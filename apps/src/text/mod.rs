//! Labelled texts from delimited files: a label column and a text column of a CSV or TSV.

pub mod features;
pub mod preprocessing;

use std::cell::RefCell;
use std::io::Read;
use std::path::Path;
use std::rc::Rc;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::delimiter::{self, Delimiter};
use crate::error::LoadError;
use crate::files::{open_text_stream, read_text_start};

/// A column picked by its 0-based index or by its header name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Column {
    Index(usize),
    Name(String),
}

impl FromStr for Column {
    type Err = std::convert::Infallible;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(text
            .parse()
            .map_or_else(|_| Column::Name(text.to_string()), Column::Index))
    }
}

impl std::fmt::Display for Column {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Column::Index(i) => write!(f, "{i}"),
            Column::Name(name) => write!(f, "`{name}`"),
        }
    }
}

/// How to read a delimited file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableFormat {
    pub delimiter: u8,
    /// The first line names the columns.
    pub header: bool,
    /// Fields may be quoted with `"` (RFC 4180). Tab-separated files usually have no quoting:
    /// a text starting with `"` is then just a text.
    pub quoting: bool,
    pub label: Column,
    pub text: Column,
}

impl TableFormat {
    /// The format the user asked for, with the rest from the file: the delimiter detected from
    /// its first lines (tab, `;` or `,`, whatever its name), quoting unless tab-separated, a
    /// header when a column is given by name.
    pub fn for_file(
        path: &Path,
        delimiter: Option<Delimiter>,
        header: Option<bool>,
        quoting: Option<bool>,
        label: Column,
        text: Column,
    ) -> Result<Self, LoadError> {
        let delimiter = match delimiter {
            Some(Delimiter::Byte(byte)) => byte,
            Some(Delimiter::Whitespace) => {
                return Err(LoadError::new(
                    path,
                    "texts hold spaces, so whitespace cannot separate their fields; use a \
                     character such as `,` or tab",
                ));
            }
            None => match read_text_start(path, 1 << 16)? {
                sample if sample.trim_ascii().is_empty() => {
                    return Err(LoadError::new(path, "no rows of data"));
                }
                sample => match delimiter::detect(&sample, 0, false) {
                    Some(Delimiter::Byte(byte)) => byte,
                    _ => {
                        return Err(LoadError::new(
                            path,
                            "cannot tell how the fields are separated: no tab, `;` or `,` splits \
                             the first lines into a label and a text; name it with --delimiter",
                        ));
                    }
                },
            },
        };
        let named = matches!(label, Column::Name(_)) || matches!(text, Column::Name(_));
        Ok(Self {
            delimiter,
            header: header.unwrap_or(named),
            quoting: quoting.unwrap_or(delimiter != b'\t'),
            label,
            text,
        })
    }
}

/// Texts with their labels, as strings.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LabelledTexts {
    pub texts: Vec<String>,
    pub labels: Vec<String>,
    /// The line each example starts on, for error messages.
    pub lines: Vec<u64>,
}

impl LabelledTexts {
    pub fn len(&self) -> usize {
        self.texts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }

    /// Class indices of the labels in `classes`; a label not among them is an error naming
    /// its line.
    pub fn class_indices(&self, classes: &[String], path: &Path) -> Result<Vec<usize>, LoadError> {
        self.labels
            .iter()
            .zip(&self.lines)
            .map(|(label, line)| {
                classes.iter().position(|c| c == label).ok_or_else(|| {
                    LoadError::new(
                        path,
                        format!(
                            "line {line}: unknown label `{label}` (the model knows {})",
                            classes.join(", ")
                        ),
                    )
                })
            })
            .collect()
    }
}

/// The index of `column` in a file whose first record is `header` (or has `width` fields).
fn resolve(
    column: &Column,
    header: Option<&csv::StringRecord>,
    width: usize,
    path: &Path,
) -> Result<usize, LoadError> {
    match (column, header) {
        (Column::Index(i), _) if *i < width => Ok(*i),
        (Column::Index(i), _) if width == 1 => Err(LoadError::new(
            path,
            format!(
                "there is no column {i}: the rows have a single field; if the file is \
                 delimited by another character, name it with --delimiter"
            ),
        )),
        (Column::Index(i), _) => Err(LoadError::new(
            path,
            format!("there is no column {i}: the rows have {width} fields (columns count from 0)"),
        )),
        (Column::Name(name), Some(header)) => {
            header.iter().position(|h| h.trim() == name).ok_or_else(|| {
                LoadError::new(
                    path,
                    format!(
                        "no column named `{name}`; the header has {}",
                        header.iter().collect::<Vec<_>>().join(", ")
                    ),
                )
            })
        }
        (Column::Name(name), None) => Err(LoadError::new(
            path,
            format!("column `{name}` is a name, but the file is read without a header (--header)"),
        )),
    }
}

/// Line numbers of byte offsets, from where the lines of a file end: the offsets of every `\n`
/// and every `\r`, recorded as the bytes are read ([`TrackLines`]). csv's own line count lags
/// by one after a CRLF (it counts the `\n` when it reads the next record), and a record's
/// position may point at the line ending before it, so lines are counted from the recorded
/// endings instead.
#[derive(Debug, Default)]
pub(crate) struct Lines {
    newlines: Vec<u64>,
    returns: Vec<u64>,
    scanned: u64,
    /// The first line longer than [`MAX_LINE_BYTES`], by number, ended or not.
    too_long: Option<u64>,
}

impl Lines {
    fn scan(&mut self, bytes: &[u8]) {
        let line_start = |newlines: &[u64]| newlines.last().map_or(0, |&n| n + 1);
        for (i, &byte) in bytes.iter().enumerate() {
            let offset = self.scanned + i as u64;
            match byte {
                b'\n' => {
                    self.note_length(offset - line_start(&self.newlines));
                    self.newlines.push(offset);
                }
                b'\r' => self.returns.push(offset),
                _ => {}
            }
        }
        self.scanned += bytes.len() as u64;
        self.note_length(self.scanned - line_start(&self.newlines));
    }

    /// Records the current line (the one after the last newline) as too long when `length` is.
    fn note_length(&mut self, length: u64) {
        if length > MAX_LINE_BYTES && self.too_long.is_none() {
            self.too_long = Some(self.newlines.len() as u64 + 1);
        }
    }

    fn is_line_ending(&self, offset: u64) -> bool {
        self.newlines.binary_search(&offset).is_ok() || self.returns.binary_search(&offset).is_ok()
    }

    /// The 1-based line on which the record at `position` starts.
    pub(crate) fn of(&self, position: Option<&csv::Position>) -> u64 {
        let Some(position) = position else { return 0 };
        let mut start = position.byte();
        while start < self.scanned && self.is_line_ending(start) {
            start += 1;
        }
        1 + self.newlines.partition_point(|&n| n < start) as u64
    }
}

/// The longest line a delimited file may have (64 MiB): csv holds a record in memory whole, so
/// a file without line breaks would otherwise be read into memory entire.
pub const MAX_LINE_BYTES: u64 = 64 << 20;

/// A reader that records where lines end as its bytes pass through, for [`Lines::of`] while csv
/// parses the stream, and refuses a line longer than [`MAX_LINE_BYTES`].
pub(crate) struct TrackLines<R> {
    inner: R,
    lines: Rc<RefCell<Lines>>,
}

impl TrackLines<Box<dyn Read>> {
    /// The contents of the text file at `path` as a stream (see [`open_text_stream`]), and the
    /// line endings seen so far.
    pub(crate) fn open(path: &Path) -> Result<(Self, Rc<RefCell<Lines>>), LoadError> {
        let lines = Rc::new(RefCell::new(Lines::default()));
        let stream = TrackLines {
            inner: open_text_stream(path)?,
            lines: lines.clone(),
        };
        Ok((stream, lines))
    }
}

impl<R: Read> Read for TrackLines<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut lines = self.lines.borrow_mut();
        lines.scan(&buf[..n]);
        match lines.too_long {
            Some(line) => Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("line {line} is longer than {} MiB", MAX_LINE_BYTES >> 20),
            )),
            None => Ok(n),
        }
    }
}

pub(crate) fn csv_error(path: &Path, lines: &Lines, error: csv::Error) -> LoadError {
    let line = error.position().map(|p| lines.of(Some(p)));
    let message = match (error.kind(), line) {
        (
            csv::ErrorKind::UnequalLengths {
                expected_len, len, ..
            },
            Some(line),
        ) => {
            format!("line {line}: {len} fields where the rows before have {expected_len}")
        }
        (csv::ErrorKind::Utf8 { err, .. }, Some(line)) => {
            format!(
                "line {line}: invalid UTF-8 in field {} (the file must be UTF-8)",
                err.field() + 1
            )
        }
        (_, _) => error.to_string(),
    };
    LoadError::new(path, message)
}

/// Reads the label and text columns of a delimited file (plain or gzip) as a stream: only the
/// two columns are kept. Every row must have as many fields as the first; empty texts and labels
/// are errors naming their line.
pub fn read_table(path: &Path, format: &TableFormat) -> Result<LabelledTexts, LoadError> {
    let (stream, lines) = TrackLines::open(path)?;
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(format.delimiter)
        .has_headers(format.header)
        .quoting(format.quoting)
        .from_reader(stream);
    let header = if format.header {
        Some(
            reader
                .headers()
                .map_err(|e| csv_error(path, &lines.borrow(), e))?
                .clone(),
        )
    } else {
        None
    };
    let mut data = LabelledTexts::default();
    let mut columns = None;
    for record in reader.records() {
        let lines = lines.borrow();
        let record = record.map_err(|e| csv_error(path, &lines, e))?;
        let line = lines.of(record.position());
        let (label_column, text_column) = match columns {
            Some(c) => c,
            None => {
                let width = header.as_ref().map_or(record.len(), |h| h.len());
                let c = (
                    resolve(&format.label, header.as_ref(), width, path)?,
                    resolve(&format.text, header.as_ref(), width, path)?,
                );
                *columns.insert(c)
            }
        };
        let label = record[label_column].trim();
        let text = &record[text_column];
        if label.is_empty() {
            return Err(LoadError::new(path, format!("line {line}: empty label")));
        }
        if text.trim().is_empty() {
            return Err(LoadError::new(path, format!("line {line}: empty text")));
        }
        data.labels.push(label.to_string());
        data.texts.push(text.to_string());
        data.lines.push(line);
    }
    if data.is_empty() {
        return Err(LoadError::new(path, "no rows of data"));
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(
        name: &str,
        bytes: &[u8],
        label: &str,
        text: &str,
        header: Option<bool>,
    ) -> Result<LabelledTexts, LoadError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let format = TableFormat::for_file(
            &path,
            None,
            header,
            None,
            label.parse().unwrap(),
            text.parse().unwrap(),
        )?;
        read_table(&path, &format)
    }

    #[test]
    fn csv_quotes_embedded_newlines_and_crlf() {
        let csv =
            b"id,text,label\r\n1,\"Hello, \"\"world\"\"\",greeting\r\n2,\"two\r\nlines\",other\r\n";
        let data = read("x.csv", csv, "label", "text", None).unwrap();
        assert_eq!(data.texts, ["Hello, \"world\"", "two\r\nlines"]);
        assert_eq!(data.labels, ["greeting", "other"]);
        assert_eq!(data.lines, [2, 3]);
        let by_index = read("x.csv", csv, "2", "1", Some(true)).unwrap();
        assert_eq!(by_index, data);
    }

    #[test]
    fn tsv_without_header_or_quoting() {
        let tsv = "ham\t\"Quoted\" start, then more\nspam\tWIN £100 now\n";
        let data = read("SMSSpamCollection", tsv.as_bytes(), "0", "1", None).unwrap();
        assert_eq!(data.texts, ["\"Quoted\" start, then more", "WIN £100 now"]);
        assert_eq!(data.labels, ["ham", "spam"]);
    }

    #[test]
    fn bad_tables_name_the_file_and_line() {
        let cases: [(&str, &[u8], &str, &str, &str); 8] = [
            (
                "b.csv",
                b"a,b\r\nx,one\r\ny,two,three\r\n",
                "a",
                "b",
                "line 3: 3 fields",
            ),
            (
                "a.tsv",
                b"x\tone\ny\ttwo\tthree\n",
                "0",
                "1",
                "line 2: 3 fields where the rows before have 2",
            ),
            ("a.tsv", b"x\tone\ny\t\n", "0", "1", "line 2: empty text"),
            ("a.tsv", b"x\tone\n\ttwo\n", "0", "1", "line 2: empty label"),
            (
                "a.tsv",
                b"x\tone\ny\t\xff\xfe\n",
                "0",
                "1",
                "line 2: invalid UTF-8",
            ),
            ("a.tsv", b"x\tone\n", "0", "2", "there is no column 2"),
            (
                "a.csv",
                b"kind,body\nx,one\n",
                "kind",
                "text",
                "no column named `text`; the header has kind, body",
            ),
            ("a.csv", b"", "0", "1", "no rows of data"),
        ];
        for (name, bytes, label, text, expected) in cases {
            let err = read(name, bytes, label, text, None).unwrap_err();
            assert!(err.path.ends_with(name), "{err}");
            assert!(
                err.message.contains(expected),
                "{err} should say {expected:?}"
            );
        }
    }

    #[test]
    fn a_line_longer_than_the_limit_is_an_error_not_a_whole_file_in_memory() {
        let mut bytes = b"ham\tshort text\nspam\t".to_vec();
        bytes.resize(bytes.len() + MAX_LINE_BYTES as usize + 1, b'x');
        bytes.push(b'\n');
        let Err(err) = read("long.tsv", &bytes, "0", "1", None) else {
            panic!("a line of over 64 MiB was read");
        };
        assert!(err.path.ends_with("long.tsv"), "{err}");
        assert!(
            err.message.contains("line 2 is longer than 64 MiB"),
            "{err}"
        );
    }

    #[test]
    fn unknown_labels_are_reported_with_their_line() {
        let data = read("a.tsv", b"x\tone\nz\ttwo\n", "0", "1", None).unwrap();
        let classes = ["x".to_string(), "y".to_string()];
        let err = data
            .class_indices(&classes, Path::new("a.tsv"))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "a.tsv: line 2: unknown label `z` (the model knows x, y)"
        );
    }
}
