use std::io::{self, Read};

use tar::{EntryType, Header};

use crate::manifest::EPOCH;

/// A GNU header carrying nothing from the host: fixed mtime, root ownership, no names, no
/// atime/ctime, only permission bits.
pub(crate) fn normalised_header(entry_type: EntryType, mode: u32, size: u64) -> Header {
    let mut header = Header::new_gnu();
    header.set_entry_type(entry_type);
    header.set_mode(mode & 0o7777);
    header.set_size(size);
    header.set_mtime(EPOCH as u64);
    header.set_uid(0);
    header.set_gid(0);
    header
}

/// Reads exactly `remaining` bytes, failing instead of returning early: a file that shrinks
/// while being archived would otherwise leave the header's size wrong and the tar corrupt.
pub(crate) struct ExactReader<R> {
    pub(crate) inner: R,
    pub(crate) remaining: u64,
}

impl<R: Read> Read for ExactReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            return Ok(0);
        }
        let max = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let read = self.inner.read(&mut buf[..max])?;
        if read == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file shrank while it was being archived",
            ));
        }
        self.remaining -= read as u64;
        Ok(read)
    }
}
