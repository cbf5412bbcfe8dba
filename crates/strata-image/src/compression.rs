use std::io::{BufRead, Read};

use flate2::bufread::MultiGzDecoder;

use crate::error::ImageError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compression {
    None,
    Gzip,
    Zstd,
    Bzip2,
    Xz,
}

impl Compression {
    /// Judged by magic bytes: media types of foreign images are not always right.
    pub(crate) fn detect(magic: &[u8]) -> Self {
        match magic {
            [0x1f, 0x8b, ..] => Self::Gzip,
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Self::Zstd,
            [b'B', b'Z', b'h', ..] => Self::Bzip2,
            [0xfd, b'7', b'z', b'X', b'Z', 0x00, ..] => Self::Xz,
            _ => Self::None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::None => "nothing",
            Self::Gzip => "gzip",
            Self::Zstd => "zstd",
            Self::Bzip2 => "bzip2",
            Self::Xz => "xz",
        }
    }

    pub(crate) fn unsupported(self, what: &str) -> ImageError {
        ImageError::UnsupportedCompression {
            what: what.to_string(),
            compression: self.name().to_string(),
        }
    }
}

/// The stream's content with gzip undone; `what` names it in errors.
pub(crate) fn decompressed<'a>(
    mut reader: impl BufRead + 'a,
    what: &str,
) -> Result<(Compression, Box<dyn Read + 'a>), ImageError> {
    let magic = reader.fill_buf().map_err(|source| ImageError::BlobRead {
        digest: what.to_string(),
        source,
    })?;
    match Compression::detect(magic) {
        Compression::None => Ok((Compression::None, Box::new(reader))),
        Compression::Gzip => Ok((Compression::Gzip, Box::new(MultiGzDecoder::new(reader)))),
        other => Err(other.unsupported(what)),
    }
}
