//! The tag of a mutable record's current state (an HTTP weak entity tag) and `If-Match`
//! comparison: here rather than in the server, because the stores compare tags inside the
//! transaction that writes, so two writers holding the same tag cannot both win.

use sha2::{Digest as _, Sha256};

use super::{ExactTimes, to_wire_bytes};

/// The weak tag (`W/"..."`) of a record's state as the API shows it ([`to_wire_bytes`]),
/// so whatever the API shows of it changes the tag.
pub fn state_tag<T: ExactTimes + ?Sized>(record: &T) -> String {
    let bytes = to_wire_bytes(record);
    let digest = hex::encode(Sha256::digest(&bytes));
    format!("W/\"{}\"", &digest[..32])
}

/// Whether an `If-Match` or `If-None-Match` header value (tags separated by commas, or `*`)
/// names `tag`, comparing weakly.
pub fn tag_matches(header: &str, tag: &str) -> bool {
    fn opaque(tag: &str) -> &str {
        tag.trim().trim_start_matches("W/")
    }
    header
        .split(',')
        .any(|candidate| candidate.trim() == "*" || opaque(candidate) == opaque(tag))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_compare_weakly_and_lists_match() {
        assert!(tag_matches("\"x\", W/\"abc\"", "W/\"abc\""));
        assert!(tag_matches("\"abc\"", "W/\"abc\""));
        assert!(tag_matches("*", "W/\"abc\""));
        assert!(!tag_matches("W/\"other\"", "W/\"abc\""));
    }
}
