//! pip requirements files (`pip install -r FILE`), read into the entries of a conda `pip:` list
//! with pip's own syntax: comments, line continuations, nested `-r` files and index options.
//!
//! Unlike Azure ML's `from_pip_requirements`, which copies every line in verbatim, blank lines
//! and comments are dropped and `-r` files are inlined, so the `pip:` list holds only what pip
//! acts on.

use std::path::{Component, Path, PathBuf};

use crate::error::{Location, Parsed, Source, SpecError};
use crate::fs::read_limited;
use crate::pip::{check_line, strip_comment};
use crate::text::decode_text as decode;

/// Reads a pip requirements file into the entries of a conda `pip:` list. Files named by `-r`
/// are read relative to the directory of the file that names them.
pub fn read_requirements_file(path: &Path) -> Result<Parsed<Vec<String>>, SpecError> {
    let bytes = read_limited(path).map_err(|failure| failure.into_error(path))?;
    let label = path.display().to_string();
    let text = decode(bytes, &label)?;
    let mut reader = Reader::new(fs_err::canonicalize(path).ok(), &label);
    reader.parse(&text, &label, parent_dir(path))?;
    Ok(reader.finish())
}

/// Parses the text of a pip requirements file. `label` names the file in messages; `-r` files
/// are read relative to `base_dir`.
pub fn parse_requirements(
    text: &str,
    label: &str,
    base_dir: &Path,
) -> Result<Parsed<Vec<String>>, SpecError> {
    let path = Path::new(label)
        .file_name()
        .and_then(|name| fs_err::canonicalize(base_dir.join(name)).ok());
    let mut reader = Reader::new(path, label);
    reader.parse(
        text.strip_prefix('\u{feff}').unwrap_or(text),
        label,
        base_dir,
    )?;
    Ok(reader.finish())
}

/// One file being read: its real path (to find include cycles) and its label.
struct Frame {
    path: Option<PathBuf>,
    label: String,
}

struct Reader {
    entries: Vec<String>,
    warnings: Vec<String>,
    /// The chain of files being read, outermost first.
    stack: Vec<Frame>,
}

impl Reader {
    fn new(path: Option<PathBuf>, label: &str) -> Self {
        Self {
            entries: Vec::new(),
            warnings: Vec::new(),
            stack: vec![Frame {
                path,
                label: label.to_string(),
            }],
        }
    }

    fn finish(self) -> Parsed<Vec<String>> {
        Parsed {
            value: self.entries,
            warnings: self.warnings,
        }
    }

    fn parse(&mut self, text: &str, label: &str, base_dir: &Path) -> Result<(), SpecError> {
        for (number, line) in logical_lines(text) {
            let content = strip_comment(&line).trim();
            if content.is_empty() {
                continue;
            }
            let column = line.chars().take_while(|c| c.is_whitespace()).count() + 1;
            let line = Line {
                label,
                location: Location {
                    line: number,
                    column,
                },
                tokens: content.split_whitespace().collect(),
            };
            self.line(&line, base_dir)?;
        }
        Ok(())
    }

    /// One line, checked by the rules every source of pip entries shares; `-r` files are
    /// inlined here.
    fn line(&mut self, line: &Line<'_>, base_dir: &Path) -> Result<(), SpecError> {
        let checked = check_line(&line.tokens).map_err(|error| match &error.field {
            Some(field) => line.error_in(field, error.message),
            None => line.error(error.message),
        })?;
        for warning in checked.warnings {
            self.warnings.push(format!(
                "`{}` at line {}: {warning}",
                line.label, line.location.line
            ));
        }
        self.entries.extend(checked.entries);
        for include in &checked.includes {
            self.include(line, include, base_dir)?;
        }
        Ok(())
    }

    /// `-r FILE`: reads the file and inlines its entries.
    fn include(&mut self, line: &Line<'_>, value: &str, base_dir: &Path) -> Result<(), SpecError> {
        if value.contains("://") {
            return Err(line.error(format!(
                "requirements files are included by path, not by URL: download `{value}` and include the copy"
            )));
        }
        let target = base_dir.join(value);
        let label = child_label(line.label, value);
        let bytes = read_limited(&target).map_err(|failure| {
            let message = if failure.is_not_found() {
                format!("the included file `{label}` does not exist")
            } else {
                format!(
                    "cannot read the included file `{label}`: {}",
                    failure.reason()
                )
            };
            line.error(message)
        })?;
        let path = fs_err::canonicalize(&target).ok();
        if let Some(path) = &path
            && let Some(start) = self
                .stack
                .iter()
                .position(|frame| frame.path.as_ref() == Some(path))
        {
            let chain = self.stack[start..]
                .iter()
                .map(|frame| format!("`{}`", frame.label))
                .chain([format!("`{label}`")])
                .collect::<Vec<_>>()
                .join(" -> ");
            return Err(line.error(format!(
                "requirements files include each other in a cycle: {chain}"
            )));
        }
        let text = decode(bytes, &label)?;
        self.stack.push(Frame {
            path,
            label: label.clone(),
        });
        let result = self.parse(&text, &label, parent_dir(&target));
        self.stack.pop();
        result
    }
}

/// One logical line of a requirements file, split into tokens.
struct Line<'a> {
    label: &'a str,
    location: Location,
    tokens: Vec<&'a str>,
}

impl Line<'_> {
    /// An error about the whole line.
    fn error(&self, message: impl Into<String>) -> SpecError {
        self.error_in(&self.tokens.join(" "), message)
    }

    /// An error about `field`, found on this line.
    fn error_in(&self, field: &str, message: impl Into<String>) -> SpecError {
        SpecError::invalid(
            Source::file(self.label)
                .at(Some(self.location))
                .field(field),
            message,
        )
    }
}

/// The logical lines of a file with the number of the line each starts on: a line ending in
/// `\` continues on the next one (pip's rule: a comment line ends the continuation).
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut lines = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let comment = line.trim_start().starts_with('#');
        if line.ends_with('\\') && !comment {
            let part = line.trim_end_matches('\\');
            match &mut pending {
                Some((_, joined)) => joined.push_str(part),
                None => pending = Some((number, part.to_string())),
            }
            continue;
        }
        match pending.take() {
            Some((start, mut joined)) => {
                if comment {
                    joined.push(' ');
                }
                joined.push_str(line);
                lines.push((start, joined));
            }
            None => lines.push((number, line.to_string())),
        }
    }
    lines.extend(pending);
    lines
}

/// The label of a file named by `-r value` in the file labelled `parent`: the path joined to
/// the parent's directory, `dir/..` pairs removed.
fn child_label(parent: &str, value: &str) -> String {
    let joined = match Path::new(parent).parent() {
        Some(dir) if !Path::new(value).is_absolute() => dir.join(value),
        _ => PathBuf::from(value),
    };
    let mut label = PathBuf::new();
    for component in joined.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(label.components().next_back(), Some(Component::Normal(_))) =>
            {
                label.pop();
            }
            other => label.push(other),
        }
    }
    label.display().to_string()
}

fn parent_dir(path: &Path) -> &Path {
    path.parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Parsed<Vec<String>> {
        parse_requirements(text, "requirements.txt", Path::new(".")).unwrap()
    }

    fn entries(text: &str) -> Vec<String> {
        let parsed = parse(text);
        assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
        parsed.value
    }

    fn error(text: &str) -> String {
        parse_requirements(text, "requirements.txt", Path::new("."))
            .unwrap_err()
            .to_string()
    }

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        fs_err::create_dir_all(path.parent().unwrap()).unwrap();
        fs_err::write(&path, text).unwrap();
        path
    }

    #[test]
    fn keeps_specifiers_extras_markers_and_urls() {
        assert_eq!(
            entries(
                "numpy>=1.24,<2\nrequests[socks,security]  ==  2.31.0\n\
                 pywin32==306; sys_platform == 'win32'\n\
                 pkg @ https://example.org/pkg-1.0.tar.gz\n\
                 https://example.org/wheels/my_pkg-0.1-py3-none-any.whl\n\
                 git+https://github.com/example/repo.git@v1.0#egg=repo\n\
                 six==1.16.0 --hash=sha256:abc --hash sha256:def\n"
            ),
            [
                "numpy>=1.24,<2",
                "requests[socks,security] == 2.31.0",
                "pywin32==306; sys_platform == 'win32'",
                "pkg @ https://example.org/pkg-1.0.tar.gz",
                "https://example.org/wheels/my_pkg-0.1-py3-none-any.whl",
                "git+https://github.com/example/repo.git@v1.0#egg=repo",
                "six==1.16.0 --hash=sha256:abc --hash=sha256:def",
            ]
        );
    }

    #[test]
    fn drops_comments_and_blank_lines_and_joins_continuations() {
        assert_eq!(
            entries(
                "# training dependencies\n\n   \nnumpy  # pinned below\n  # indented comment\n\
                 scikit-learn \\\n    >=1.3 \\\n    ,<2\nhttps://host/x-1.0-py3-none-any.whl#sha256=abc\n\
                 pandas\\\n# a comment ends the continuation\nlast \\"
            ),
            [
                "numpy",
                "scikit-learn >=1.3 ,<2",
                "https://host/x-1.0-py3-none-any.whl#sha256=abc",
                "pandas",
                "last",
            ]
        );
    }

    #[test]
    fn keeps_environment_variables_as_written() {
        assert_eq!(
            entries(
                "--extra-index-url https://${USER}:${TOKEN}@pkgs.example.org/simple\n\
                 numpy==${NUMPY_VERSION}\n\
                 pkg @ https://${USER}:${TOKEN}@pkgs.example.org/pkg-1.0.tar.gz\n"
            ),
            [
                "--extra-index-url https://${USER}:${TOKEN}@pkgs.example.org/simple",
                "numpy==${NUMPY_VERSION}",
                "pkg @ https://${USER}:${TOKEN}@pkgs.example.org/pkg-1.0.tar.gz",
            ]
        );
        assert_eq!(
            crate::pip::substitute_variables("a${B_1}c${d}${}$"),
            "a0c${d}${}$"
        );
    }

    #[test]
    fn normalises_index_options() {
        assert_eq!(
            entries(
                "-i https://a.example/simple\n--index-url=https://b.example/simple\n\
                 --extra-index-url   https://c.example/simple\n-f ./wheels\n--find-links=https://d.example/links\n\
                 --no-index\n--pre\n--trusted-host c.example\n--prefer-binary\n\
                 --only-binary :all:\n--no-binary=pyyaml\n--pre --trusted-host=d.example\n-ihttps://e.example/simple\n"
            ),
            [
                "--index-url https://a.example/simple",
                "--index-url https://b.example/simple",
                "--extra-index-url https://c.example/simple",
                "--find-links ./wheels",
                "--find-links https://d.example/links",
                "--no-index",
                "--pre",
                "--trusted-host c.example",
                "--prefer-binary",
                "--only-binary :all:",
                "--no-binary pyyaml",
                "--pre",
                "--trusted-host d.example",
                "--index-url https://e.example/simple",
            ]
        );
    }

    #[test]
    fn azure_quirks_file() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "other.txt", "six==1.16.0");
        let path = write(
            dir.path(),
            "requirements.txt",
            "numpy\n\n-r other.txt\nrequests  # trailing comment\n",
        );
        let parsed = read_requirements_file(&path).unwrap();
        assert_eq!(parsed.value, ["numpy", "six==1.16.0", "requests"]);
        assert!(parsed.warnings.is_empty());
    }

    #[test]
    fn nested_includes_are_relative_to_the_including_file() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "reqs/base/common.txt",
            "requests\n--requirement=../../shared/pins.txt\n",
        );
        write(dir.path(), "shared/pins.txt", "urllib3<2\n");
        write(
            dir.path(),
            "reqs/dev.txt",
            "pytest\n-r base/common.txt\n--requirement base/extra.txt\n",
        );
        write(dir.path(), "reqs/base/extra.txt", "rich\n");
        let path = write(
            dir.path(),
            "requirements.txt",
            "numpy\n-rreqs/dev.txt\nscipy\n",
        );
        let parsed = read_requirements_file(&path).unwrap();
        assert_eq!(
            parsed.value,
            ["numpy", "pytest", "requests", "urllib3<2", "rich", "scipy"]
        );
        // The same file may be included twice when it is not a cycle.
        let text = "-r reqs/base/extra.txt\n-r reqs/base/extra.txt\n";
        let parsed = parse_requirements(text, "top.txt", dir.path()).unwrap();
        assert_eq!(parsed.value, ["rich", "rich"]);
    }

    #[test]
    fn include_cycle_is_an_error_naming_the_chain() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a.txt", "numpy\n-r sub/b.txt\n");
        write(dir.path(), "sub/b.txt", "pandas\n\n-r ../a.txt\n");
        let error = parse_requirements("-r a.txt\n", "requirements.txt", dir.path()).unwrap_err();
        insta::assert_snapshot!(error, @"Invalid `sub/b.txt` at line 3, column 1, field `-r ../a.txt`: requirements files include each other in a cycle: `a.txt` -> `sub/b.txt` -> `a.txt`");

        let path = write(dir.path(), "self.txt", "-r self.txt\n");
        let error = read_requirements_file(&path).unwrap_err().to_string();
        let error = error.replace(&dir.path().display().to_string(), "DIR");
        insta::assert_snapshot!(error, @"Invalid `DIR/self.txt` at line 1, column 1, field `-r self.txt`: requirements files include each other in a cycle: `DIR/self.txt` -> `DIR/self.txt`");
    }

    #[test]
    fn missing_include_names_the_including_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let error = parse_requirements("numpy\n  -r missing.txt\n", "requirements.txt", dir.path())
            .unwrap_err();
        insta::assert_snapshot!(error, @"Invalid `requirements.txt` at line 2, column 3, field `-r missing.txt`: the included file `missing.txt` does not exist");
    }

    #[test]
    fn bad_specifier_names_line_column_and_requirement() {
        insta::assert_snapshot!(error("numpy\n\n   numpy=>1.2  # typo\n"), @r#"Invalid `requirements.txt` at line 3, column 4, field `numpy=>1.2`: no such comparison operator "=>", must be one of ~= == != <= >= < > ==="#);
        insta::assert_snapshot!(error("requests[socks\n"), @"Invalid `requirements.txt` at line 1, column 1, field `requests[socks`: Missing closing bracket (expected ']', found end of dependency specification)");
    }

    #[test]
    fn constraints_and_editables_are_refused() {
        insta::assert_snapshot!(error("numpy\n-c constraints.txt\n"), @"Invalid `requirements.txt` at line 2, column 1, field `-c constraints.txt`: constraints files (`-c`) are not supported in environment definitions; pin the versions in the requirements file instead");
        insta::assert_snapshot!(error("--editable ./src/mypkg\n"), @"Invalid `requirements.txt` at line 1, column 1, field `--editable ./src/mypkg`: editable installs (`-e`) are not supported in environment definitions; build a wheel (`pip wheel --no-deps ./src/mypkg`) and add it with `strata env add-wheel FILE`");
    }

    #[test]
    fn unknown_options_are_refused() {
        insta::assert_snapshot!(error("numpy\n--use-feature=fast-deps\n"), @"Invalid `requirements.txt` at line 2, column 1, field `--use-feature=fast-deps`: unknown or unsupported pip option `--use-feature` (supported: `--requirement`, `--index-url`, `--extra-index-url`, `--find-links`, `--no-index`, `--pre`, `--trusted-host`, `--prefer-binary`, `--only-binary`, `--no-binary`)");
        insta::assert_snapshot!(error("numpy --install-option=--prefix\n"), @"Invalid `requirements.txt` at line 1, column 1, field `numpy --install-option=--prefix`: option `--install-option` cannot follow a requirement (only `--hash` can)");
        insta::assert_snapshot!(error("--index-url\n"), @"Invalid `requirements.txt` at line 1, column 1, field `--index-url`: option `--index-url` needs a value");
        insta::assert_snapshot!(error("--pre numpy\n"), @"Invalid `requirements.txt` at line 1, column 1, field `--pre numpy`: unexpected `numpy` after an option (write each requirement on a line of its own)");
    }

    #[test]
    fn local_paths_are_kept_with_a_warning() {
        let parsed = parse(
            "./dist/my_pkg-0.1-py3-none-any.whl\n/abs/other-1.0-py3-none-any.whl\n\
             pkg @ file:///wheels/pkg-1.0-py3-none-any.whl\n../src/project\nnumpy\n",
        );
        assert_eq!(
            parsed.value,
            [
                "./dist/my_pkg-0.1-py3-none-any.whl",
                "/abs/other-1.0-py3-none-any.whl",
                "pkg @ file:///wheels/pkg-1.0-py3-none-any.whl",
                "../src/project",
                "numpy",
            ]
        );
        insta::assert_debug_snapshot!(parsed.warnings, @r#"
        [
            "`requirements.txt` at line 1: `./dist/my_pkg-0.1-py3-none-any.whl` is a local path; local files are not stored with the environment, so it will not install anywhere else: store the wheel with `strata env add-wheel ./dist/my_pkg-0.1-py3-none-any.whl`",
            "`requirements.txt` at line 2: `/abs/other-1.0-py3-none-any.whl` is a local path; local files are not stored with the environment, so it will not install anywhere else: store the wheel with `strata env add-wheel /abs/other-1.0-py3-none-any.whl`",
            "`requirements.txt` at line 3: `pkg @ file:///wheels/pkg-1.0-py3-none-any.whl` is a local path; local files are not stored with the environment, so it will not install anywhere else: store the wheel with `strata env add-wheel /wheels/pkg-1.0-py3-none-any.whl`",
            "`requirements.txt` at line 4: `../src/project` is a local path; local files are not stored with the environment, so it will not install anywhere else: build a wheel (`pip wheel --no-deps ../src/project`) and store it with `strata env add-wheel FILE`",
        ]
        "#);
    }

    /// Issue #11, item 3: `-r /dev/zero` was read without a limit.
    #[test]
    fn includes_of_special_files_are_refused() {
        let error = parse_requirements("numpy\n-r /dev/zero\n", "requirements.txt", Path::new("."))
            .unwrap_err();
        insta::assert_snapshot!(error, @"Invalid `requirements.txt` at line 2, column 1, field `-r /dev/zero`: cannot read the included file `/dev/zero`: it is a device, not a regular file; definitions include only regular files");
    }

    #[test]
    fn file_errors() {
        let dir = tempfile::tempdir().unwrap();
        let error = read_requirements_file(&dir.path().join("missing.txt")).unwrap_err();
        assert!(matches!(error, SpecError::Read { .. }), "{error:?}");

        let path = dir.path().join("latin1.txt");
        fs_err::write(&path, b"numpy\ncaf\xe9\n").unwrap();
        let error = parse_requirements("-r latin1.txt", "top.txt", dir.path()).unwrap_err();
        insta::assert_snapshot!(error, @"Invalid `latin1.txt` at line 2, column 4: the file is not UTF-8 text (save it as UTF-8)");
    }
}
