//! Resolving a definition into a lock: conda packages with rattler, PyPI packages with
//! `uv pip compile`, the interpreter from conda or the machine.

use std::path::PathBuf;
use std::process::Command;

use strata_spec::{
    CondaLockedPackage, Environment, LOCK_FORMAT_VERSION, Lock, LockedPython, MatchSpec, PipEntry,
    PypiLockedPackage, PypiSource, PythonSource, UserManagedLock, normalize_name,
};

use crate::cache::Cache;
use crate::conda::{CondaError, CondaSolveRequest, solve_conda};
use crate::error::BuildError;
use crate::interpreter::{Interpreter, find_system_cached, probe, uv_request};
use crate::reporter::{BuildLog, Reporter, step};
use crate::uv::{Uv, run};

/// The platform locks are made for on this machine.
pub const PLATFORM: &str = "linux-64";

/// Where `strata://wheels/...` references are stored (the workspace).
pub trait WheelSource {
    /// The verified file behind a reference.
    fn wheel_file(&self, uri: &str) -> Result<PathBuf, String>;
}

/// What resolving and building need from the caller.
pub struct BuildContext<'a> {
    pub cache: &'a Cache,
    pub wheels: &'a dyn WheelSource,
    pub reporter: &'a dyn Reporter,
}

/// Resolves a definition to exact packages.
pub fn resolve(
    environment: &Environment,
    context: &BuildContext<'_>,
    log: &mut BuildLog,
) -> Result<Lock, BuildError> {
    context.cache.ensure()?;
    if environment.python.user_managed_dependencies {
        return resolve_user_managed(environment, context, log);
    }
    let conda = environment.conda().cloned().unwrap_or_default();
    let specs: Vec<(String, MatchSpec)> = conda
        .conda_packages()
        .filter_map(|spec| {
            MatchSpec::parse(spec)
                .ok()
                .map(|m| (spec.trim().to_string(), m))
        })
        .collect();
    let python_spec = specs
        .iter()
        .find(|(_, m)| m.normalized_name() == "python")
        .map(|(_, m)| m.clone());
    let pip_spec = specs
        .iter()
        .find(|(_, m)| m.normalized_name() == "pip")
        .map(|(_, m)| m.clone());
    let other_specs: Vec<String> = specs
        .iter()
        .filter(|(_, m)| !matches!(m.normalized_name().as_str(), "python" | "pip"))
        .map(|(text, _)| text.clone())
        .collect();

    let uv = Uv::locate(context.cache, log)?;
    let mut conda_packages = Vec::new();
    if !conda.channels.is_empty() && (!other_specs.is_empty() || python_spec.is_some()) {
        step(context.reporter, log, "Resolving conda packages");
        let all: Vec<String> = specs.iter().map(|(text, _)| text.clone()).collect();
        conda_packages = match solve(&conda.channels, &all, context, log) {
            Ok(packages) => packages,
            // The channels do not provide this Python: take it from the machine instead.
            Err(CondaError::Unsatisfiable { .. })
                if python_spec.is_some() && !other_specs.is_empty() =>
            {
                log.line("the conda channels do not provide the requested python; using an installed interpreter");
                solve(&conda.channels, &other_specs, context, log)?
            }
            Err(CondaError::Unsatisfiable { .. })
                if python_spec.is_some() && other_specs.is_empty() =>
            {
                log.line("the conda channels do not provide the requested python; using an installed interpreter");
                Vec::new()
            }
            Err(error) => return Err(error.into()),
        };
    } else if !other_specs.is_empty() {
        return Err(BuildError::NoChannel {
            packages: other_specs,
        });
    }

    let conda_python = conda_packages
        .iter()
        .find(|p| p.name == "python")
        .map(|p| p.version.clone());
    let (python, interpreter) = match conda_python {
        Some(version) => (
            LockedPython {
                version,
                source: PythonSource::Conda,
            },
            None,
        ),
        None => {
            let request = uv_request(python_spec.as_ref().and_then(|m| m.version.as_deref()));
            step(
                context.reporter,
                log,
                &format!("Finding a Python {request} interpreter"),
            );
            let interpreter = find_system_cached(&uv, context.cache, &request, log)?;
            (
                LockedPython {
                    version: interpreter.version.clone(),
                    source: PythonSource::System,
                },
                Some(interpreter),
            )
        }
    };

    let mut options = Vec::new();
    let mut requirements = Vec::new();
    for entry in conda.pip_entries() {
        match PipEntry::classify(entry).map_err(|e| BuildError::InvalidLock {
            reason: e.to_string(),
        })? {
            PipEntry::Option(option) => options.push(option),
            PipEntry::Requirement { text, .. } => requirements.push(text),
            PipEntry::Ignored => {}
        }
    }
    // A Python from the machine gets pip, setuptools and wheel from PyPI, as conda's Python
    // has them in Azure ML; so does a conda Python whose PyPI packages are resolved anyway.
    if python.source == PythonSource::System || !requirements.is_empty() {
        let from_conda: Vec<&str> = conda_packages.iter().map(|p| p.name.as_str()).collect();
        let added = seed_requirements(&requirements, &from_conda, pip_spec.as_ref());
        if !added.is_empty() {
            log.line(&format!(
                "adding {} to the PyPI packages (the definition does not name them)",
                added.join(", ")
            ));
        }
        requirements.extend(added);
    }
    let pypi = if requirements.is_empty() {
        Vec::new()
    } else {
        step(context.reporter, log, "Resolving PyPI packages with uv");
        compile(
            &uv,
            &options,
            &requirements,
            interpreter.as_ref(),
            &python,
            context,
            log,
        )?
    };
    let pip_options = options.into_iter().filter(|o| is_index_option(o)).collect();
    Ok(Lock {
        version: LOCK_FORMAT_VERSION,
        platform: PLATFORM.to_string(),
        python: Some(python),
        conda: conda_packages,
        pypi,
        pip_options,
        user_managed: None,
        base_image: None,
    })
}

fn solve(
    channels: &[String],
    specs: &[String],
    context: &BuildContext<'_>,
    log: &mut BuildLog,
) -> Result<Vec<CondaLockedPackage>, CondaError> {
    log.line(&format!(
        "conda solve: channels {channels:?}, specs {specs:?}"
    ));
    tracing::debug!("rattler solve for {PLATFORM}: channels {channels:?}, specs {specs:?}");
    let result = solve_conda(&CondaSolveRequest {
        channels,
        specs,
        platform: PLATFORM,
        cache_dir: &context.cache.conda_cache_dir(),
    });
    match &result {
        Ok(packages) => {
            for package in packages {
                log.line(&format!(
                    "  {} {} {} ({})",
                    package.name, package.version, package.build, package.channel
                ));
            }
        }
        Err(error) => log.line(&format!("conda solve failed: {error}")),
    }
    result
}

fn resolve_user_managed(
    environment: &Environment,
    context: &BuildContext<'_>,
    log: &mut BuildLog,
) -> Result<Lock, BuildError> {
    let path = PathBuf::from(&environment.python.interpreter_path);
    step(
        context.reporter,
        log,
        &format!("Checking the user-managed interpreter `{}`", path.display()),
    );
    let interpreter = probe(&path)?;
    let freeze = freeze(&interpreter, context, log)?;
    Ok(Lock {
        version: LOCK_FORMAT_VERSION,
        platform: PLATFORM.to_string(),
        python: Some(LockedPython {
            version: interpreter.version.clone(),
            source: PythonSource::System,
        }),
        conda: Vec::new(),
        pypi: Vec::new(),
        pip_options: Vec::new(),
        user_managed: Some(UserManagedLock {
            interpreter: environment.python.interpreter_path.clone(),
            python_version: interpreter.version,
            freeze,
        }),
        base_image: None,
    })
}

/// `pip freeze` of an interpreter; uv's when the interpreter has no pip.
fn freeze(
    interpreter: &Interpreter,
    context: &BuildContext<'_>,
    log: &mut BuildLog,
) -> Result<Vec<String>, BuildError> {
    let mut command = Command::new(&interpreter.path);
    command.args([
        "-m",
        "pip",
        "freeze",
        "--all",
        "--disable-pip-version-check",
    ]);
    let output = match run(command, log) {
        Ok(output) => output,
        Err(_) => {
            let uv = Uv::locate(context.cache, log)?;
            let mut command = uv.command();
            command
                .args(["pip", "freeze", "--python"])
                .arg(&interpreter.path);
            run(command, log)?
        }
    };
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_string)
        .collect())
}

#[allow(clippy::too_many_arguments)]
fn compile(
    uv: &Uv,
    options: &[String],
    requirements: &[String],
    interpreter: Option<&Interpreter>,
    python: &LockedPython,
    context: &BuildContext<'_>,
    log: &mut BuildLog,
) -> Result<Vec<PypiLockedPackage>, BuildError> {
    let work = tempfile::tempdir_in(context.cache.root())
        .map_err(|e| BuildError::io(context.cache.root(), e))?;
    let mut input = String::new();
    for option in options {
        input.push_str(&expand_variables(option)?);
        input.push('\n');
    }
    let mut wheel_files = Vec::new();
    for requirement in requirements {
        let line = if requirement.starts_with("strata://wheels/") {
            let file = wheel_copy(requirement, context)?;
            let name = strata_spec_name(&file);
            wheel_files.push((file_url(&file), requirement.clone()));
            format!("{name} @ {}", file_url(&file))
        } else {
            expand_variables(requirement)?
        };
        input.push_str(&line);
        input.push('\n');
    }
    let input_path = work.path().join("requirements.in");
    fs_err::write(&input_path, &input).map_err(|e| BuildError::io(&input_path, e))?;
    let mut command = uv.command();
    command.args([
        "pip",
        "compile",
        "--quiet",
        "--generate-hashes",
        "--emit-index-annotation",
        "--no-annotate",
        "--no-header",
    ]);
    match interpreter {
        Some(interpreter) => {
            command.arg("--python").arg(&interpreter.path);
        }
        None => {
            command.args([
                "--python-version",
                &python.version,
                "--python-platform",
                "x86_64-manylinux_2_28",
            ]);
        }
    }
    command.arg(&input_path).current_dir(work.path());
    let output = run(command, log)?;
    parse_compiled(&String::from_utf8_lossy(&output.stdout), &wheel_files)
}

/// Parses `uv pip compile --generate-hashes --emit-index-annotation --no-annotate` output.
fn parse_compiled(
    text: &str,
    wheel_files: &[(String, String)],
) -> Result<Vec<PypiLockedPackage>, BuildError> {
    let mut packages: Vec<PypiLockedPackage> = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim().trim_end_matches('\\').trim();
        if trimmed.is_empty() {
            continue;
        }
        if let Some(hash) = trimmed.strip_prefix("--hash=sha256:") {
            if let Some(package) = packages.last_mut() {
                package.hashes.push(hash.to_string());
            }
        } else if let Some(url) = trimmed.strip_prefix("# from ") {
            if let Some(package) = packages.last_mut()
                && let PypiSource::Index { url: index } = &mut package.source
            {
                *index = strip_userinfo(url.trim());
            }
        } else if trimmed.starts_with('#') || trimmed.starts_with('-') {
            continue;
        } else if let Some((name, url)) = trimmed.split_once(" @ ") {
            let url = url.trim();
            let source = match wheel_files.iter().find(|(file, _)| file == url) {
                Some((_, uri)) => PypiSource::Wheel { uri: uri.clone() },
                None => PypiSource::Url {
                    url: strip_userinfo(url),
                },
            };
            packages.push(PypiLockedPackage {
                name: normalize_name(name.trim()),
                version: version_from_url(url).unwrap_or_default(),
                source,
                hashes: Vec::new(),
            });
        } else if let Some((name, version)) = trimmed.split_once("==") {
            packages.push(PypiLockedPackage {
                name: normalize_name(name.trim()),
                version: version.trim().to_string(),
                source: PypiSource::Index {
                    url: "https://pypi.org/simple".to_string(),
                },
                hashes: Vec::new(),
            });
        } else {
            return Err(BuildError::InvalidLock {
                reason: format!("unexpected line in uv's resolution: `{trimmed}`"),
            });
        }
    }
    Ok(packages)
}

/// A private wheel copied (hardlinked when possible) under its file name, which uv needs.
pub(crate) fn wheel_copy(uri: &str, context: &BuildContext<'_>) -> Result<PathBuf, BuildError> {
    let rest = uri.strip_prefix("strata://wheels/").unwrap_or(uri);
    let (sha, filename) = rest.split_once('/').ok_or_else(|| BuildError::Wheel {
        uri: uri.to_string(),
        reason: "expected `strata://wheels/<sha256>/<file>.whl`".to_string(),
    })?;
    let target = context.cache.wheels_dir().join(sha).join(filename);
    if target.is_file() {
        return Ok(target);
    }
    let source = context
        .wheels
        .wheel_file(uri)
        .map_err(|reason| BuildError::Wheel {
            uri: uri.to_string(),
            reason,
        })?;
    let dir = target.parent().unwrap_or(context.cache.root());
    fs_err::create_dir_all(dir).map_err(|e| BuildError::io(dir, e))?;
    let staging = dir.join(format!(".{filename}.{}", std::process::id()));
    if fs_err::hard_link(&source, &staging).is_err() {
        fs_err::copy(&source, &staging).map_err(|e| BuildError::io(&staging, e))?;
    }
    fs_err::rename(&staging, &target).map_err(|e| BuildError::io(&target, e))?;
    Ok(target)
}

pub(crate) fn file_url(path: &std::path::Path) -> String {
    format!("file://{}", path.display())
}

fn strata_spec_name(file: &std::path::Path) -> String {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    name.split('-').next().unwrap_or_default().to_string()
}

fn version_from_url(url: &str) -> Option<String> {
    let file = url.split(['#', '?']).next()?.rsplit('/').next()?;
    if let Some(stem) = file.strip_suffix(".whl") {
        return stem.split('-').nth(1).map(str::to_string);
    }
    None
}

/// The packages conda's Python brings in Azure ML, which a Python from the machine lacks,
/// with the requirement each is added as. setuptools stays below 82, which removed
/// `pkg_resources` (Azure ML environments can `import pkg_resources`).
const SEED_PACKAGES: [(&str, &str); 3] = [
    ("pip", "pip"),
    ("setuptools", "setuptools<82"),
    ("wheel", "wheel"),
];

/// The requirements to add for [`SEED_PACKAGES`]: each one the pip requirements do not name
/// and the conda packages do not provide. `pip` follows a conda `pip` spec's version
/// (`pip=23.3` becomes `pip==23.3.*`, `pip>=23,<24` stays as it is).
fn seed_requirements(
    requirements: &[String],
    from_conda: &[&str],
    pip_spec: Option<&MatchSpec>,
) -> Vec<String> {
    SEED_PACKAGES
        .iter()
        .filter(|(name, _)| !from_conda.contains(name))
        .filter(|(name, _)| {
            !requirements
                .iter()
                .any(|r| requirement_name(r).as_deref() == Some(*name))
        })
        .map(
            |(name, requirement)| match (*name, pip_spec.and_then(|m| m.version.as_deref())) {
                ("pip", Some(version)) if !version.starts_with(['<', '>', '=', '!', '~']) => {
                    format!("pip=={version}.*")
                }
                // Conda's operators and `,` (and) read the same in pip.
                ("pip", Some(version)) => format!("pip{version}"),
                _ => (*requirement).to_string(),
            },
        )
        .collect()
}

fn requirement_name(requirement: &str) -> Option<String> {
    match PipEntry::classify(requirement) {
        Ok(PipEntry::Requirement { name, .. }) => name,
        _ => None,
    }
}

fn is_index_option(option: &str) -> bool {
    [
        "--index-url",
        "--extra-index-url",
        "--find-links",
        "--no-index",
        "--trusted-host",
        "-i ",
        "-f ",
    ]
    .iter()
    .any(|prefix| option.starts_with(prefix))
}

/// Replaces `${VAR}` with the variable's value; credentials live in the environment only.
pub(crate) fn expand_variables(text: &str) -> Result<String, BuildError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        let variable = &after[..end];
        let value = std::env::var(variable).map_err(|_| BuildError::MissingVariable {
            variable: variable.to_string(),
            entry: text.to_string(),
        })?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn strip_userinfo(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rsplit_once('@') {
        Some((_, host)) => format!("{}{host}{}", &url[..scheme_end + 3], &rest[authority_end..]),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_uv_output() {
        let text = "attrs==26.1.0 \\\n    --hash=sha256:aa \\\n    --hash=sha256:bb\n    # from https://me:pw@pypi.example.org/simple\nsix @ file:///c/wheels/ab/six-1.16.0-py2.py3-none-any.whl \\\n    --hash=sha256:cc\n";
        let wheels = vec![(
            "file:///c/wheels/ab/six-1.16.0-py2.py3-none-any.whl".to_string(),
            "strata://wheels/ab/six-1.16.0-py2.py3-none-any.whl".to_string(),
        )];
        let packages = parse_compiled(text, &wheels).unwrap();
        assert_eq!(packages[0].name, "attrs");
        assert_eq!(packages[0].hashes, ["aa", "bb"]);
        assert_eq!(
            packages[0].source,
            PypiSource::Index {
                url: "https://pypi.example.org/simple".to_string()
            }
        );
        assert_eq!(packages[1].version, "1.16.0");
        assert_eq!(
            packages[1].source,
            PypiSource::Wheel {
                uri: "strata://wheels/ab/six-1.16.0-py2.py3-none-any.whl".to_string()
            }
        );
    }

    /// Issue #11, item 20: pip, setuptools and wheel are locked unless the definition names
    /// them (as a pip requirement, or a conda package that provides them).
    #[test]
    fn pip_setuptools_and_wheel_are_added_unless_named() {
        let none: Vec<String> = Vec::new();
        assert_eq!(
            seed_requirements(&none, &[], None),
            ["pip", "setuptools<82", "wheel"]
        );
        let pinned = vec!["Setuptools<70".to_string(), "six==1.16.0".to_string()];
        assert_eq!(seed_requirements(&pinned, &[], None), ["pip", "wheel"]);
        assert_eq!(
            seed_requirements(&none, &["pip", "wheel"], None),
            ["setuptools<82"]
        );
        let pip = MatchSpec::parse("pip=23.3").unwrap();
        assert_eq!(
            seed_requirements(&none, &[], Some(&pip)),
            ["pip==23.3.*", "setuptools<82", "wheel"]
        );
        for (conda, pip) in [("pip>=23,<24", "pip>=23,<24"), ("pip==23.3", "pip==23.3")] {
            let spec = MatchSpec::parse(conda).unwrap();
            assert_eq!(
                seed_requirements(&none, &[], Some(&spec))[0],
                pip,
                "{conda}"
            );
        }
    }

    #[test]
    fn expands_variables_and_reports_missing_ones() {
        assert_eq!(
            expand_variables("--index-url https://u:${HOME}@h").unwrap(),
            format!("--index-url https://u:{}@h", std::env::var("HOME").unwrap())
        );
        assert!(matches!(
            expand_variables("${STRATA_SURELY_UNSET_VAR}"),
            Err(BuildError::MissingVariable { .. })
        ));
    }
}
