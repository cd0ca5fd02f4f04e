//! Which character separates the fields of a delimited file, told from its first lines rather
//! than from its name: users' files come as `.txt`, `.data` or no extension at all, and with
//! commas, semicolons (where the comma is the decimal mark), tabs or runs of spaces.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How the fields of a line are separated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Delimiter {
    /// One ASCII character, with RFC 4180 quoting where the reader allows it.
    Byte(u8),
    /// Runs of spaces and tabs, as numpy's `savetxt` and many data repositories write tables.
    Whitespace,
}

impl FromStr for Delimiter {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "tab" | "\\t" | "\t" => Ok(Delimiter::Byte(b'\t')),
            "whitespace" | "space" => Ok(Delimiter::Whitespace),
            _ if text.len() == 1 && text.is_ascii() => Ok(Delimiter::Byte(text.as_bytes()[0])),
            _ => Err(format!(
                "the delimiter must be one ASCII character, `tab` or `whitespace`, got `{text}`"
            )),
        }
    }
}

impl std::fmt::Display for Delimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Delimiter::Byte(b'\t') => f.write_str("tab"),
            Delimiter::Byte(b) => write!(f, "`{}`", *b as char),
            Delimiter::Whitespace => f.write_str("whitespace"),
        }
    }
}

/// How many records the detection looks at, and how many bytes at most.
const SAMPLE_RECORDS: usize = 100;
pub(crate) const SAMPLE_BYTES: usize = 1 << 16;

/// Field counts of the first records of `sample` split by `delimiter`; quoted fields may hold
/// the delimiter and line breaks, except in tab-separated files, which are read without
/// quoting. A record cut off by the sample's end is dropped.
fn field_counts(sample: &[u8], truncated: bool, delimiter: Delimiter) -> Vec<usize> {
    let mut counts: Vec<usize> = match delimiter {
        Delimiter::Byte(byte) => {
            let mut reader = csv::ReaderBuilder::new()
                .delimiter(byte)
                .has_headers(false)
                .flexible(true)
                .quoting(byte != b'\t')
                .from_reader(sample);
            reader
                .records()
                .map_while(Result::ok)
                .filter(|r| !(r.len() == 1 && r[0].trim().is_empty()))
                .take(SAMPLE_RECORDS + 1)
                .map(|r| r.len())
                .collect()
        }
        Delimiter::Whitespace => String::from_utf8_lossy(sample)
            .lines()
            .map(|line| line.split_whitespace().count())
            .filter(|&n| n > 0)
            .take(SAMPLE_RECORDS + 1)
            .collect(),
    };
    if truncated || counts.len() > SAMPLE_RECORDS {
        counts.pop();
    }
    counts
}

/// The delimiter of a file that starts with `sample`: the first of tab, `;` and `,` that splits
/// every sampled record into the same number (two or more) of fields, else runs of whitespace
/// when `whitespace` is allowed and do the same. When none is consistent, the one that splits
/// the most records into two or more fields, the earliest in that order on a tie (the reader
/// then reports the ragged line); `None`
/// when nothing splits any line, a table of one column.
///
/// Tab comes before `;` and `;` before `,`: a semicolon-separated file with decimal commas
/// splits consistently on commas too, never the other way round.
pub fn detect(sample: &[u8], skip_rows: usize, whitespace: bool) -> Option<Delimiter> {
    let truncated = sample.len() > SAMPLE_BYTES;
    let sample = &sample[..sample.len().min(SAMPLE_BYTES)];
    // The lines to skip (metadata before the table) do not count.
    let start = sample
        .split_inclusive(|&b| b == b'\n')
        .take(skip_rows)
        .map(<[u8]>::len)
        .sum::<usize>();
    let sample = &sample[start..];
    let mut candidates = vec![
        Delimiter::Byte(b'\t'),
        Delimiter::Byte(b';'),
        Delimiter::Byte(b','),
    ];
    if whitespace {
        candidates.push(Delimiter::Whitespace);
    }
    let counted: Vec<(Delimiter, Vec<usize>)> = candidates
        .into_iter()
        .map(|d| (d, field_counts(sample, truncated, d)))
        .collect();
    let consistent = counted.iter().find(|(_, counts)| {
        counts
            .first()
            .is_some_and(|&n| n >= 2 && counts.iter().all(|&c| c == n))
    });
    if let Some((delimiter, _)) = consistent {
        return Some(*delimiter);
    }
    counted
        .iter()
        .map(|(d, counts)| (*d, counts.iter().filter(|&&n| n >= 2).count()))
        .filter(|(_, split)| *split > 0)
        // `max_by_key` keeps the last of equal maxima: reversed, ties go to the earliest
        // candidate, in the order above.
        .rev()
        .max_by_key(|(_, split)| *split)
        .map(|(d, _)| d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detected(text: &str) -> Option<Delimiter> {
        detect(text.as_bytes(), 0, true)
    }

    #[test]
    fn detects_the_common_delimiters_whatever_the_name() {
        assert_eq!(detected("a,b,c\n1,2,3\n"), Some(Delimiter::Byte(b',')));
        assert_eq!(
            detected("a;b;c\r\n1,5;2,25;3\r\n"),
            Some(Delimiter::Byte(b';'))
        );
        assert_eq!(detected("a\tb\n1\t2\n"), Some(Delimiter::Byte(b'\t')));
        assert_eq!(
            detected("1.0  2.5 3\n4 5   6\n"),
            Some(Delimiter::Whitespace)
        );
        // Quoted fields may hold the delimiter and line breaks.
        assert_eq!(
            detected("label,text\nham,\"Hi, how are you; fine\"\nspam,\"WIN\nnow, today\"\n"),
            Some(Delimiter::Byte(b','))
        );
        // A tab-separated text file whose texts hold commas and quotes.
        assert_eq!(
            detected("ham\t\"Quoted\" start, then, more\nspam\tWIN £100, now\n"),
            Some(Delimiter::Byte(b'\t'))
        );
        assert_eq!(detected("1\n2\n3\n"), None);
        // Texts hold spaces: a text file is never split on whitespace.
        assert_eq!(detect(b"ham hello there\nspam win now\n", 0, false), None);
    }

    #[test]
    fn ragged_files_take_the_earliest_delimiter_on_a_tie() {
        // Tab, comma and whitespace each split both lines, never consistently.
        assert_eq!(
            detected("a\tb,c\n1\t2\t3,4,5\n"),
            Some(Delimiter::Byte(b'\t'))
        );
        assert_eq!(detected("a;b,c\n1;2;3,4,5\n"), Some(Delimiter::Byte(b';')));
    }

    #[test]
    fn skipped_lines_do_not_count() {
        let text = "569,30,malignant,benign\n1;2;3\n4;5;6\n";
        assert_eq!(
            detect(text.as_bytes(), 1, true),
            Some(Delimiter::Byte(b';'))
        );
    }

    #[test]
    fn delimiters_parse_from_the_command_line() {
        assert_eq!("tab".parse(), Ok(Delimiter::Byte(b'\t')));
        assert_eq!(";".parse(), Ok(Delimiter::Byte(b';')));
        assert_eq!("whitespace".parse(), Ok(Delimiter::Whitespace));
        assert!("ab".parse::<Delimiter>().unwrap_err().contains("`ab`"));
    }
}
