use std::io::{self, Read as _, Write};
use std::os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _};
use std::path::Path;

use crate::error::SpecError;

/// The largest file a definition may include (a definition, a conda file, a requirements file,
/// a Dockerfile, a conda-meta record). Real ones are kilobytes; the limit keeps `/dev/zero` or
/// a runaway file from filling memory.
pub const MAX_DEFINITION_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Why a file could not be read as part of a definition.
#[derive(Debug)]
pub(crate) enum ReadFailure {
    Io(io::Error),
    /// A FIFO, device, socket or directory: named by its kind.
    NotRegular(&'static str),
    TooLarge,
}

impl ReadFailure {
    /// The reason in words, without the path (the caller names the file).
    pub(crate) fn reason(&self) -> String {
        match self {
            Self::Io(error) => match std::error::Error::source(error) {
                Some(source) => source.to_string(),
                None => error.to_string(),
            },
            Self::NotRegular(kind) => {
                format!(
                    "it is a {kind}, not a regular file; definitions include only regular files"
                )
            }
            Self::TooLarge => format!(
                "it is larger than {} MiB, the limit for files a definition includes",
                MAX_DEFINITION_FILE_BYTES / (1024 * 1024)
            ),
        }
    }

    pub(crate) fn is_not_found(&self) -> bool {
        matches!(self, Self::Io(error) if error.kind() == io::ErrorKind::NotFound)
    }

    pub(crate) fn into_error(self, path: &Path) -> SpecError {
        match self {
            Self::Io(source) => SpecError::Read {
                path: path.to_path_buf(),
                source,
            },
            other => SpecError::Unreadable {
                path: path.to_path_buf(),
                reason: other.reason(),
            },
        }
    }
}

/// Reads a file a definition includes: a regular file only (symlinks to one are followed), at
/// most [`MAX_DEFINITION_FILE_BYTES`].
pub(crate) fn read_limited(path: &Path) -> Result<Vec<u8>, ReadFailure> {
    // Non-blocking, so opening a FIFO with no writer returns at once instead of hanging; the
    // type check below then refuses it.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(path)
        .map_err(ReadFailure::Io)?;
    let metadata = file.metadata().map_err(ReadFailure::Io)?;
    let file_type = metadata.file_type();
    if !file_type.is_file() {
        let kind = if file_type.is_dir() {
            "directory"
        } else if file_type.is_fifo() {
            "FIFO"
        } else if file_type.is_socket() {
            "socket"
        } else if file_type.is_char_device() || file_type.is_block_device() {
            "device"
        } else {
            "special file"
        };
        return Err(ReadFailure::NotRegular(kind));
    }
    if metadata.len() > MAX_DEFINITION_FILE_BYTES {
        return Err(ReadFailure::TooLarge);
    }
    // The size can change while reading; never take more than the limit.
    let mut bytes = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(0));
    file.take(MAX_DEFINITION_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadFailure::Io)?;
    if bytes.len() as u64 > MAX_DEFINITION_FILE_BYTES {
        return Err(ReadFailure::TooLarge);
    }
    Ok(bytes)
}

/// Reads a UTF-8 text file a definition includes, with the limits of [`read_limited`] and a
/// byte-order mark dropped ([`crate::decode_text`]).
pub fn read_definition_file(path: &Path) -> Result<String, SpecError> {
    read_optional_definition_file(path)?.ok_or_else(|| SpecError::Read {
        path: path.to_path_buf(),
        source: io::Error::new(io::ErrorKind::NotFound, "No such file or directory"),
    })
}

/// Like [`read_definition_file`], `None` when the file does not exist.
pub fn read_optional_definition_file(path: &Path) -> Result<Option<String>, SpecError> {
    let bytes = match read_limited(path) {
        Ok(bytes) => bytes,
        Err(failure) if failure.is_not_found() => return Ok(None),
        Err(failure) => return Err(failure.into_error(path)),
    };
    crate::text::decode_text(bytes, &path.display().to_string()).map(Some)
}

/// Writes `bytes` to a temporary file beside `path`, then renames it into place, so readers
/// see the old file or the new one, never a part.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<(), SpecError> {
    let error = |source| SpecError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(error)?;
    file.write_all(bytes).map_err(error)?;
    file.as_file().sync_all().map_err(error)?;
    file.persist(path).map_err(|e| error(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue #11, item 3: `conda_file: /dev/zero` grew the process to 23 GB, a FIFO hung.
    #[test]
    fn only_regular_files_within_the_limit_are_read() {
        let error = read_definition_file(Path::new("/dev/zero")).unwrap_err();
        insta::assert_snapshot!(error, @"Cannot read `/dev/zero`: it is a device, not a regular file; definitions include only regular files");

        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let error = read_definition_file(&fifo).unwrap_err().to_string();
        assert!(
            error.ends_with(
                "it is a FIFO, not a regular file; definitions include only regular files"
            ),
            "{error}"
        );

        let error = read_definition_file(dir.path()).unwrap_err().to_string();
        assert!(error.contains("it is a directory"), "{error}");

        let big = dir.path().join("big.yml");
        let file = std::fs::File::create(&big).unwrap();
        file.set_len(MAX_DEFINITION_FILE_BYTES + 1).unwrap();
        let error = read_definition_file(&big).unwrap_err().to_string();
        assert!(
            error.ends_with("it is larger than 16 MiB, the limit for files a definition includes"),
            "{error}"
        );

        let small = dir.path().join("ok.yml");
        fs_err::write(&small, "name: x\n").unwrap();
        assert_eq!(read_definition_file(&small).unwrap(), "name: x\n");
        assert_eq!(
            read_optional_definition_file(&dir.path().join("missing")).unwrap(),
            None
        );
    }
}
