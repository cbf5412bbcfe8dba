//! The snapshot of a run's source directory: every file not excluded by `.amlignore` (which
//! wins) or `.gitignore` (gitwildmatch rules), within size and file-count limits that are
//! checked before anything runs.

use std::path::{Path, PathBuf};

use crate::error::RunError;

/// Limits on what a snapshot may hold (Azure ML's defaults: 300 MiB and 2,000 files).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotLimits {
    pub max_bytes: u64,
    pub max_files: usize,
}

impl Default for SnapshotLimits {
    fn default() -> Self {
        Self {
            max_bytes: 300 * 1024 * 1024,
            max_files: 2_000,
        }
    }
}

/// The files to snapshot, relative to the source directory, sorted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotPlan {
    pub files: Vec<PathBuf>,
    pub total_bytes: u64,
    /// `.amlignore` or `.gitignore`, when one applied.
    pub ignore_file: Option<&'static str>,
}

/// Lists the files of `source` to snapshot and checks the limits.
pub fn plan_snapshot(source: &Path, limits: SnapshotLimits) -> Result<SnapshotPlan, RunError> {
    if !source.is_dir() {
        return Err(RunError::SourceDir {
            path: source.to_path_buf(),
        });
    }
    let amlignore = source.join(".amlignore").is_file();
    let gitignore = source.join(".gitignore").is_file();
    let mut walker = ignore::WalkBuilder::new(source);
    walker
        .hidden(false)
        .parents(false)
        .git_global(false)
        .git_exclude(false)
        .ignore(false)
        .require_git(false)
        .git_ignore(!amlignore)
        .follow_links(false)
        .sort_by_file_name(std::cmp::Ord::cmp);
    if amlignore {
        walker.add_custom_ignore_filename(".amlignore");
    }
    // Whatever the rules say, the workspace itself is never part of a snapshot.
    walker.filter_entry(|entry| entry.file_name() != ".strata" && entry.file_name() != ".git");
    let mut files = Vec::new();
    let mut sizes = Vec::new();
    let mut total_bytes = 0;
    for entry in walker.build() {
        let entry = entry.map_err(|source| RunError::Walk {
            path: source_path(&source).unwrap_or_else(|| source.to_string()),
            message: source.to_string(),
        })?;
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
        let relative = entry
            .path()
            .strip_prefix(source)
            .unwrap_or(entry.path())
            .to_path_buf();
        total_bytes += size;
        sizes.push((size, relative.clone()));
        files.push(relative);
    }
    if files.len() > limits.max_files || total_bytes > limits.max_bytes {
        sizes.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        let largest = sizes
            .iter()
            .take(5)
            .map(|(size, path)| format!("{} ({})", path.display(), human(*size)))
            .collect();
        return Err(RunError::SnapshotTooLarge {
            source_dir: source.to_path_buf(),
            files: files.len(),
            bytes: total_bytes,
            limits,
            largest,
            largest_dirs: largest_dirs(&sizes),
        });
    }
    tracing::debug!(
        "snapshot of {}: {} files, {} bytes",
        source.display(),
        files.len(),
        total_bytes
    );
    Ok(SnapshotPlan {
        files,
        total_bytes,
        ignore_file: if amlignore {
            Some(".amlignore")
        } else if gitignore {
            Some(".gitignore")
        } else {
            None
        },
    })
}

/// The top-level directories holding the most files, for a too-many-files message.
fn largest_dirs(sizes: &[(u64, PathBuf)]) -> Vec<String> {
    let mut counts: std::collections::BTreeMap<String, (usize, u64)> =
        std::collections::BTreeMap::new();
    for (size, path) in sizes {
        let mut components = path.components();
        if let (Some(first), Some(_)) = (components.next(), components.next()) {
            let entry = counts
                .entry(first.as_os_str().to_string_lossy().into_owned())
                .or_default();
            entry.0 += 1;
            entry.1 += size;
        }
    }
    let mut dirs: Vec<_> = counts.into_iter().collect();
    dirs.sort_by_key(|entry| std::cmp::Reverse(entry.1.0));
    dirs.into_iter()
        .take(3)
        .map(|(dir, (count, size))| format!("{dir}/ ({count} files, {})", human(size)))
        .collect()
}

fn source_path(error: &ignore::Error) -> Option<String> {
    match error {
        ignore::Error::WithPath { path, .. } => Some(path.display().to_string()),
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
            source_path(err)
        }
        _ => None,
    }
}

#[allow(clippy::cast_precision_loss)]
pub(crate) fn human(bytes: u64) -> String {
    if bytes >= 1024 * 1024 {
        format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
    } else if bytes >= 1024 {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    } else {
        format!("{bytes} B")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, content) in files {
            let path = dir.path().join(path);
            fs_err::create_dir_all(path.parent().unwrap()).unwrap();
            fs_err::write(path, content).unwrap();
        }
        dir
    }

    fn names(plan: &SnapshotPlan) -> Vec<String> {
        plan.files.iter().map(|p| p.display().to_string()).collect()
    }

    #[test]
    fn gitignore_rules_apply() {
        let dir = tree(&[
            (".gitignore", "*.log\ndata/\n!keep.log\n/build\n"),
            ("train.py", "x"),
            ("debug.log", "x"),
            ("keep.log", "x"),
            ("data/big.csv", "x"),
            ("src/build/x.py", "x"),
            ("build/out.bin", "x"),
        ]);
        let plan = plan_snapshot(dir.path(), SnapshotLimits::default()).unwrap();
        assert_eq!(
            names(&plan),
            [".gitignore", "keep.log", "src/build/x.py", "train.py"]
        );
        assert_eq!(plan.ignore_file, Some(".gitignore"));
    }

    #[test]
    fn amlignore_wins_over_gitignore() {
        let dir = tree(&[
            (".gitignore", "*.py\n"),
            (".amlignore", "secret.txt\n"),
            ("train.py", "x"),
            ("secret.txt", "x"),
        ]);
        let plan = plan_snapshot(dir.path(), SnapshotLimits::default()).unwrap();
        assert_eq!(names(&plan), [".amlignore", ".gitignore", "train.py"]);
        assert_eq!(plan.ignore_file, Some(".amlignore"));
    }

    #[test]
    fn limits_name_the_largest_offenders() {
        let dir = tree(&[
            ("a.bin", &"x".repeat(3000)),
            ("b.bin", &"x".repeat(2000)),
            ("small.py", "x"),
        ]);
        let error = plan_snapshot(
            dir.path(),
            SnapshotLimits {
                max_bytes: 4000,
                max_files: 10,
            },
        )
        .unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains("a.bin (2.9 KiB)") && text.contains("b.bin"),
            "{text}"
        );
        let error = plan_snapshot(
            dir.path(),
            SnapshotLimits {
                max_bytes: 1 << 20,
                max_files: 2,
            },
        )
        .unwrap_err();
        assert!(error.to_string().contains("3 files"), "{error}");
    }
}
