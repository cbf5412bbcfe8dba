//! Access tokens: `strata_pat_` + 32 random bytes in base62 + a 6-character checksum, so a
//! secret scanner can find them and a mistyped token fails before any lookup. Only the
//! SHA-256 of a token is ever stored.

use sha2::{Digest as _, Sha256};

pub const TOKEN_PREFIX: &str = "strata_pat_";
const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const SECRET_CHARS: usize = 43;
const CHECKSUM_CHARS: usize = 6;

/// A new token from the operating system's random source.
pub fn generate_token() -> std::io::Result<String> {
    let mut secret = String::with_capacity(SECRET_CHARS);
    let mut bytes = [0u8; 64];
    while secret.len() < SECRET_CHARS {
        getrandom(&mut bytes)?;
        // Rejection sampling keeps every character uniform over the alphabet.
        for byte in bytes.iter().copied().filter(|b| *b < 248) {
            if secret.len() == SECRET_CHARS {
                break;
            }
            secret.push(char::from(ALPHABET[usize::from(byte % 62)]));
        }
    }
    let checksum = checksum_of(&secret);
    Ok(format!("{TOKEN_PREFIX}{secret}{checksum}"))
}

/// Whether `token` has the shape and checksum of a Strata token.
pub fn is_well_formed(token: &str) -> bool {
    let Some(rest) = token.strip_prefix(TOKEN_PREFIX) else {
        return false;
    };
    if rest.len() != SECRET_CHARS + CHECKSUM_CHARS || !rest.bytes().all(|b| ALPHABET.contains(&b)) {
        return false;
    }
    let (secret, checksum) = rest.split_at(SECRET_CHARS);
    checksum_of(secret) == checksum
}

/// What a store keeps of a token: its SHA-256, in hex.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn checksum_of(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    let mut value = u64::from_be_bytes(digest[..8].try_into().unwrap_or([0; 8]));
    let mut out = [0u8; CHECKSUM_CHARS];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[usize::try_from(value % 62).unwrap_or(0)];
        value /= 62;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn getrandom(buffer: &mut [u8]) -> std::io::Result<()> {
    use std::io::Read as _;
    fs_err::File::open("/dev/urandom")?.read_exact(buffer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_recognisable_and_checked() {
        let token = generate_token().unwrap();
        assert!(token.starts_with(TOKEN_PREFIX));
        assert_eq!(
            token.len(),
            TOKEN_PREFIX.len() + SECRET_CHARS + CHECKSUM_CHARS
        );
        assert!(is_well_formed(&token));
        let mut typo = token.clone().into_bytes();
        let last = TOKEN_PREFIX.len() + 3;
        typo[last] = if typo[last] == b'a' { b'b' } else { b'a' };
        assert!(!is_well_formed(&String::from_utf8(typo).unwrap()));
        assert!(!is_well_formed("strata_pat_short"));
        assert_ne!(generate_token().unwrap(), token);
        assert_eq!(token_hash(&token).len(), 64);
    }
}
