//! Parsing YAML definition files, with nesting refused before the parser sees it.
//!
//! The YAML parser takes time quadratic in the nesting depth before it reaches its recursion
//! limit (a 200 KB `[[[...` took 52 s), so [`parse_yaml`] first measures the depth in one
//! linear pass and refuses anything deeper than [`MAX_DEPTH`]. Real definitions nest four or
//! five levels.

use serde_yaml_ng::Value;

use crate::error::{Location, Source, SpecError};

/// The deepest nesting of collections accepted in a YAML file.
pub(crate) const MAX_DEPTH: usize = 64;

/// Parses YAML text after [`check_nesting`]; errors name `label` and the line.
pub(crate) fn parse_yaml(text: &str, label: &str) -> Result<Value, SpecError> {
    check_nesting(text, label)?;
    serde_yaml_ng::from_str(text).map_err(|error| {
        let location = error.location().map(|l| Location {
            line: l.line(),
            column: l.column(),
        });
        SpecError::invalid(Source::file(label).at(location), yaml_message(&error))
    })
}

/// serde_yaml's message without its trailing " at line X column Y" (the location is reported
/// separately).
pub(crate) fn yaml_message(error: &serde_yaml_ng::Error) -> String {
    let message = error.to_string();
    match message.find(" at line ") {
        Some(index) => message[..index].to_string(),
        None => message,
    }
}

/// Refuses YAML whose collections nest deeper than [`MAX_DEPTH`], in time linear in its length.
///
/// The depth is counted the way the parser nests: flow collections by their brackets (outside
/// quoted scalars and comments), block collections by their indentation, including compact
/// `- - x` items. Block scalars (`|`, `>`) are text and skipped. The count may be a little
/// higher than the parser's (a `[` inside a plain scalar counts), never lower.
pub(crate) fn check_nesting(text: &str, label: &str) -> Result<(), SpecError> {
    let mut scanner = Scanner::default();
    for (index, line) in text.split('\n').enumerate() {
        if let Some(column) = scanner.line(line.strip_suffix('\r').unwrap_or(line)) {
            return Err(SpecError::invalid(
                Source::file(label).at(Some(Location {
                    line: index + 1,
                    column,
                })),
                format!(
                    "collections are nested more than {MAX_DEPTH} levels deep; a definition needs a few"
                ),
            ));
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quote {
    Single,
    Double,
}

#[derive(Default)]
struct Scanner {
    /// Columns of the open block collections, strictly increasing.
    block: Vec<usize>,
    /// Open `[` and `{`.
    flow: usize,
    /// A quoted scalar continued from an earlier line.
    quote: Option<Quote>,
    /// Inside a block scalar whose parent line was indented this much.
    block_scalar: Option<usize>,
}

impl Scanner {
    /// Scans one line; the 1-based column where the depth limit was passed, if it was.
    fn line(&mut self, line: &str) -> Option<usize> {
        let bytes = line.as_bytes();
        let indent = bytes.iter().take_while(|b| **b == b' ').count();
        let blank = bytes[indent..]
            .iter()
            .all(|b| b.is_ascii_whitespace() || *b == 0);
        if let Some(parent) = self.block_scalar {
            if blank || indent > parent {
                return None;
            }
            self.block_scalar = None;
        }
        let mut start = 0;
        if self.quote.is_none() && self.flow == 0 {
            if blank || bytes[indent] == b'#' {
                return None;
            }
            if line[indent..].starts_with("---") || line[indent..].starts_with("...") {
                self.block.clear();
                return None;
            }
            while self.block.last().is_some_and(|open| *open > indent) {
                self.block.pop();
            }
            // Compact items (`- - x`, `? x`) each open a collection on this line.
            let mut column = indent;
            loop {
                if self.block.last().is_none_or(|open| *open < column) {
                    self.block.push(column);
                }
                let item = matches!(bytes.get(column), Some(b'-' | b'?'))
                    && bytes
                        .get(column + 1)
                        .is_none_or(|b| *b == b' ' || *b == b'\t');
                if !item {
                    break;
                }
                column += 1;
                while matches!(bytes.get(column), Some(b' ' | b'\t')) {
                    column += 1;
                }
                if column >= bytes.len() {
                    break;
                }
            }
            if self.block.len() > MAX_DEPTH {
                return Some(column + 1);
            }
            start = column;
        }
        let mut previous = if start == 0 { b' ' } else { bytes[start - 1] };
        let mut index = start;
        while index < bytes.len() {
            let byte = bytes[index];
            match self.quote {
                Some(Quote::Single) => {
                    if byte == b'\'' {
                        if bytes.get(index + 1) == Some(&b'\'') {
                            index += 1;
                        } else {
                            self.quote = None;
                        }
                    }
                }
                Some(Quote::Double) => {
                    if byte == b'\\' {
                        index += 1;
                    } else if byte == b'"' {
                        self.quote = None;
                    }
                }
                None => {
                    let after_separator = matches!(
                        previous,
                        b' ' | b'\t' | b'[' | b'{' | b',' | b':' | b'-' | b'?'
                    );
                    match byte {
                        b'#' if matches!(previous, b' ' | b'\t') => break,
                        b'\'' if after_separator => self.quote = Some(Quote::Single),
                        b'"' if after_separator => self.quote = Some(Quote::Double),
                        b'[' | b'{' => {
                            self.flow += 1;
                            if self.block.len() + self.flow > MAX_DEPTH {
                                return Some(index + 1);
                            }
                        }
                        b']' | b'}' => self.flow = self.flow.saturating_sub(1),
                        _ => {}
                    }
                }
            }
            previous = byte;
            index += 1;
        }
        if self.quote.is_none() && self.flow == 0 && ends_with_block_scalar_indicator(line) {
            self.block_scalar = Some(indent);
        }
        None
    }
}

/// Whether a line ends with `|` or `>` (with chomping and indentation indicators, and maybe a
/// comment): the lines after it are a block scalar's text.
fn ends_with_block_scalar_indicator(line: &str) -> bool {
    let code = match line.find(" #") {
        Some(index) => &line[..index],
        None => line,
    };
    let Some(last) = code.trim_end().rsplit([' ', '\t']).next() else {
        return false;
    };
    let mut chars = last.chars();
    matches!(chars.next(), Some('|' | '>')) && chars.all(|c| matches!(c, '+' | '-' | '1'..='9'))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    fn depth_error(text: &str) -> Option<String> {
        check_nesting(text, "env.yml").err().map(|e| e.to_string())
    }

    /// Issue #11, item 10: deep nesting is refused at once, with the file and line.
    #[test]
    fn deep_flow_nesting_is_refused_quickly() {
        let text = format!("name: x\ndependencies: {}", "[".repeat(200_000));
        let started = Instant::now();
        let error = parse_yaml(&text, "env.yml").unwrap_err().to_string();
        assert!(started.elapsed() < Duration::from_secs(1));
        insta::assert_snapshot!(error, @"Invalid `env.yml` at line 2, column 78: collections are nested more than 64 levels deep; a definition needs a few");
    }

    #[test]
    fn deep_block_nesting_is_refused() {
        let compact = format!("dependencies:\n{}x\n", "- ".repeat(100));
        assert!(depth_error(&compact).unwrap().contains("line 2"));
        let mut indented = String::new();
        for level in 0..100 {
            indented.push_str(&format!("{}k{level}:\n", " ".repeat(level)));
        }
        assert!(depth_error(&indented).unwrap().contains("line 65"));
        let mixed = format!("a:\n  b: {}\n", "{x: ".repeat(70));
        assert!(depth_error(&mixed).is_some());
    }

    #[test]
    fn ordinary_files_and_text_pass() {
        for text in [
            "name: my-env\nchannels:\n- conda-forge\ndependencies:\n- python=3.9\n- pip:\n  - numpy[extra]>=1 # [[[[\n",
            &format!("description: '{}'\nname: x\n", "[".repeat(100)),
            &format!("description: \"a\n  {}\"\nname: x\n", "{".repeat(100)),
            &format!("description: |\n  {}\n  more\nname: x\n", "[".repeat(100)),
            &format!("tags: {{a: [1, 2], b: [[3]]}}\n# {}\n", "[".repeat(100)),
            &format!("x: y{}\n", "[]".repeat(1000)),
        ] {
            assert_eq!(depth_error(text), None, "{text}");
        }
        let nested = format!("a: {}1{}\n", "[".repeat(60), "]".repeat(60));
        assert_eq!(depth_error(&nested), None);
        assert!(parse_yaml(&nested, "env.yml").is_ok());
    }
}
