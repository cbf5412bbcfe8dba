use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};

use flate2::bufread::MultiGzDecoder;
use tempfile::NamedTempFile;

use crate::compression::Compression;
use crate::error::ImageError;
use crate::store::ImageStore;

/// Files of an archive or directory, by relative path; `None` when missing.
pub(crate) trait Source {
    fn open(&self, path: &str) -> Result<Option<Box<dyn Read + '_>>, ImageError>;
    fn location(&self) -> &Path;

    fn read(&self, path: &str) -> Result<Option<Vec<u8>>, ImageError> {
        let Some(mut reader) = self.open(path)? else {
            return Ok(None);
        };
        let mut bytes = Vec::new();
        reader
            .read_to_end(&mut bytes)
            .map_err(ImageError::io(&self.location().join(path)))?;
        Ok(Some(bytes))
    }

    fn require(&self, path: &str) -> Result<Box<dyn Read + '_>, ImageError> {
        self.open(path)?
            .ok_or_else(|| missing(self.location(), path))
    }
}

pub(crate) fn missing(location: &Path, path: &str) -> ImageError {
    ImageError::InvalidImage {
        reason: format!("`{}` has no `{path}`", location.display()),
    }
}

pub(crate) struct DirSource {
    pub(crate) dir: PathBuf,
}

impl Source for DirSource {
    fn open(&self, path: &str) -> Result<Option<Box<dyn Read + '_>>, ImageError> {
        let Some(relative) = archive_path(path) else {
            return Ok(None);
        };
        let full = self.dir.join(relative);
        match File::open(&full) {
            Ok(file) => Ok(Some(Box::new(BufReader::new(file)))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ImageError::io(&full)(e)),
        }
    }

    fn location(&self) -> &Path {
        &self.dir
    }
}

/// A tar read in place: one pass records where each file's data lies, later reads seek there.
/// Links are resolved by name inside the archive, never through the host file system.
pub(crate) struct TarSource {
    archive: PathBuf,
    /// A decompressed copy when the archive was gzipped.
    _plain: Option<NamedTempFile>,
    readable: PathBuf,
    items: HashMap<String, TarItem>,
}

enum TarItem {
    File { offset: u64, size: u64 },
    Link(String),
}

impl TarSource {
    pub(crate) fn open(store: &ImageStore, archive: &Path) -> Result<Self, ImageError> {
        let mut reader = BufReader::new(File::open(archive).map_err(ImageError::io(archive))?);
        let magic = reader.fill_buf().map_err(ImageError::io(archive))?;
        let plain = match Compression::detect(magic) {
            Compression::None => None,
            Compression::Gzip => {
                let mut tmp = store.blob_temp_file()?;
                io::copy(&mut MultiGzDecoder::new(reader), &mut tmp)
                    .map_err(ImageError::io(archive))?;
                Some(tmp)
            }
            other => return Err(other.unsupported(&archive.display().to_string())),
        };
        let readable = plain
            .as_ref()
            .map_or(archive.to_path_buf(), |t| t.path().to_path_buf());
        let file = File::open(&readable).map_err(ImageError::io(&readable))?;
        let mut items = HashMap::new();
        let mut tar = tar::Archive::new(BufReader::new(file));
        for entry in tar.entries().map_err(ImageError::io(archive))? {
            let entry = entry.map_err(ImageError::io(archive))?;
            let path = entry.path().map_err(ImageError::io(archive))?;
            let Some(name) = path.to_str().and_then(archive_path) else {
                continue;
            };
            let header = entry.header();
            let item = match header.entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => TarItem::File {
                    offset: entry.raw_file_position(),
                    size: entry.size(),
                },
                tar::EntryType::Link => {
                    let Some(target) = link_target(&entry, None) else {
                        continue;
                    };
                    TarItem::Link(target)
                }
                tar::EntryType::Symlink => {
                    let Some(target) = link_target(&entry, Some(&name)) else {
                        continue;
                    };
                    TarItem::Link(target)
                }
                _ => continue,
            };
            items.insert(name, item);
        }
        Ok(Self {
            archive: archive.to_path_buf(),
            _plain: plain,
            readable,
            items,
        })
    }
}

/// Where a link entry points, as an archive path; symlinks are relative to their directory.
fn link_target<R: Read>(entry: &tar::Entry<'_, R>, symlink_at: Option<&str>) -> Option<String> {
    let target = entry.link_name().ok()??;
    let target = target.to_str()?;
    match symlink_at {
        Some(at) if !target.starts_with('/') => {
            let dir = at.rsplit_once('/').map_or("", |(dir, _)| dir);
            archive_path(&format!("{dir}/{target}"))
        }
        _ => archive_path(target),
    }
}

impl Source for TarSource {
    fn open(&self, path: &str) -> Result<Option<Box<dyn Read + '_>>, ImageError> {
        let Some(mut name) = archive_path(path) else {
            return Ok(None);
        };
        for _ in 0..16 {
            match self.items.get(&name) {
                None => return Ok(None),
                Some(TarItem::Link(target)) => name = target.clone(),
                Some(TarItem::File { offset, size }) => {
                    let mut file =
                        File::open(&self.readable).map_err(ImageError::io(&self.readable))?;
                    file.seek(SeekFrom::Start(*offset))
                        .map_err(ImageError::io(&self.archive))?;
                    return Ok(Some(Box::new(BufReader::new(file).take(*size))));
                }
            }
        }
        Ok(None)
    }

    fn location(&self) -> &Path {
        &self.archive
    }
}

/// A path inside an archive normalised lexically (`./` and leading `/` dropped, `..` applied);
/// `None` when it climbs out or is empty.
fn archive_path(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for component in Path::new(path.trim_start_matches('/')).components() {
        match component {
            Component::Normal(part) => parts.push(part.to_str()?),
            Component::ParentDir => {
                parts.pop()?;
            }
            _ => {}
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}
