//! Reading definition files as text: UTF-8, with a leading byte-order mark dropped, as Python
//! (`utf-8-sig`) and pip do.

use crate::error::{Source, SpecError, location_of_offset};

/// The UTF-8 byte-order mark, which editors on Windows put at the start of a file.
const BYTE_ORDER_MARK: char = '\u{feff}';

/// A file's bytes as text: UTF-8 without a leading byte-order mark. Every definition file is
/// decoded here. `label` names the file in the error.
pub fn decode_text(bytes: Vec<u8>, label: &str) -> Result<String, SpecError> {
    match String::from_utf8(bytes) {
        Ok(text) => Ok(match text.strip_prefix(BYTE_ORDER_MARK) {
            Some(rest) => rest.to_string(),
            None => text,
        }),
        Err(error) => {
            let valid = &error.as_bytes()[..error.utf8_error().valid_up_to()];
            let valid = std::str::from_utf8(valid).unwrap_or_default();
            Err(SpecError::invalid(
                Source::file(label).at(Some(location_of_offset(valid, valid.len()))),
                "the file is not UTF-8 text (save it as UTF-8)",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_byte_order_mark_is_dropped() {
        let text = decode_text(b"\xef\xbb\xbfname: x\n".to_vec(), "env.yml").unwrap();
        assert_eq!(text, "name: x\n");
        // Only a leading one: a BOM inside the text is content.
        let text = decode_text("a\u{feff}b".as_bytes().to_vec(), "env.yml").unwrap();
        assert_eq!(text, "a\u{feff}b");
    }

    #[test]
    fn invalid_utf8_names_the_file_and_line() {
        let error = decode_text(b"a\nb\xff".to_vec(), "env.yml").unwrap_err();
        insta::assert_snapshot!(error, @"Invalid `env.yml` at line 2, column 2: the file is not UTF-8 text (save it as UTF-8)");
    }
}
