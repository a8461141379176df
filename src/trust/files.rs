//! Which files a credential configuration may make the operator read.
//!
//! An `external_account` credential names a file whose content is sent to the token service as
//! the workload's identity. In a tenant's Secret that would be a way to read any file of the
//! operator's pod, the Kubernetes service-account token first of all. A file is read only when
//! its real path (symbolic links resolved) lies under a directory the admin listed and outside
//! the places no credential ever comes from.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// Never read, whatever the admin lists: the pod's own Kubernetes token and the kernel's views
/// (`/proc/self/environ`, `/proc/1/root/...`). Resolved at check time, as `/var/run` is often a
/// link to `/run`.
const NEVER: &[&str] = &[
    "/var/run/secrets/kubernetes.io",
    "/run/secrets/kubernetes.io",
    "/proc",
    "/sys",
    "/dev",
];

/// The most read from one credential file (tokens are a few KiB).
pub const MAX_FILE_BYTES: u64 = 64 * 1024;

/// Checks a path as written: absolute, no `..`, under one of `dirs` (as written). Done when the
/// configuration is read, so a misconfigured credential fails at once.
pub fn check_written(path: &str, dirs: &[PathBuf]) -> Result<PathBuf, String> {
    let p = Path::new(path);
    if !p.is_absolute() {
        return Err(format!("{path:?} must be an absolute path"));
    }
    if p.components()
        .any(|c| matches!(c, Component::ParentDir | Component::CurDir))
    {
        return Err(format!("{path:?} must not contain . or .. components"));
    }
    if dirs.is_empty() {
        return Err(format!(
            "{path:?}: no directory is allowed for credential files; the operator's admin must \
             list one (flag --credential-source-dir, Helm value security.credentialSourceDirs)"
        ));
    }
    if !dirs.iter().any(|d| p.starts_with(d)) {
        return Err(format!(
            "{path:?} is outside the directories allowed for credential files ({})",
            dirs.iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if under_never(p) {
        return Err(format!("{path:?} is never read as a credential"));
    }
    Ok(p.to_path_buf())
}

fn under_never(p: &Path) -> bool {
    NEVER.iter().any(|n| p.starts_with(n))
}

/// Why a credential file was not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileError {
    /// The admin's rules do not allow this file.
    Refused(String),
    /// It is allowed but cannot be read (missing, not a file, too large).
    Unreadable(String),
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Refused(m) | Self::Unreadable(m) => f.write_str(m),
        }
    }
}

/// Reads a credential file after resolving its real path and checking it again against the
/// resolved directories; at most [`MAX_FILE_BYTES`]. Errors name the path, never the content.
pub fn read_checked(path: &Path, dirs: &[PathBuf]) -> Result<String, FileError> {
    use FileError::{Refused, Unreadable};
    let shown = path.display();
    check_written(&path.to_string_lossy(), dirs).map_err(Refused)?;
    let real = std::fs::canonicalize(path)
        .map_err(|e| Unreadable(format!("{shown}: cannot be read ({})", e.kind())))?;
    let real_dirs: Vec<PathBuf> = dirs
        .iter()
        .filter_map(|d| std::fs::canonicalize(d).ok())
        .collect();
    if !real_dirs.iter().any(|d| real.starts_with(d)) {
        return Err(Refused(format!(
            "{shown} resolves outside the directories allowed for credential files"
        )));
    }
    let never_real = NEVER
        .iter()
        .filter_map(|n| std::fs::canonicalize(n).ok())
        .any(|n| real.starts_with(n));
    if under_never(&real) || never_real {
        return Err(Refused(format!("{shown} is never read as a credential")));
    }
    let file = std::fs::File::open(&real)
        .map_err(|e| Unreadable(format!("{shown}: cannot be read ({})", e.kind())))?;
    if !file.metadata().map(|m| m.is_file()).unwrap_or(false) {
        return Err(Unreadable(format!("{shown} is not a regular file")));
    }
    let mut text = String::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| Unreadable(format!("{shown}: cannot be read ({})", e.kind())))?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(Unreadable(format!(
            "{shown} is larger than {MAX_FILE_BYTES} bytes, not a token"
        )));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_paths() {
        let dirs = [PathBuf::from(
            "/var/run/secrets/eks.amazonaws.com/serviceaccount",
        )];
        let ok = "/var/run/secrets/eks.amazonaws.com/serviceaccount/token";
        assert!(check_written(ok, &dirs).is_ok());
        let cases = [
            ("token", "absolute"),
            (
                "/var/run/secrets/eks.amazonaws.com/serviceaccount/../../kubernetes.io/serviceaccount/token",
                "..",
            ),
            (
                "/var/run/secrets/kubernetes.io/serviceaccount/token",
                "outside",
            ),
            ("/proc/self/environ", "outside"),
            (
                "/var/run/secrets/eks.amazonaws.com/serviceaccount-evil/token",
                "outside",
            ),
        ];
        for (path, needle) in cases {
            let e = check_written(path, &dirs).expect_err(path);
            assert!(e.contains(needle), "{path}: {e}");
        }
        let e = check_written(ok, &[]).expect_err("no dirs");
        assert!(e.contains("--credential-source-dir"), "{e}");
        let careless = [PathBuf::from("/")];
        for path in [
            "/var/run/secrets/kubernetes.io/serviceaccount/token",
            "/run/secrets/kubernetes.io/serviceaccount/token",
            "/proc/self/environ",
        ] {
            let e = check_written(path, &careless).expect_err(path);
            assert!(e.contains("never"), "{path}: {e}");
        }
    }

    #[test]
    fn links_are_resolved_before_reading() {
        let dir = tempfile::tempdir().expect("tempdir");
        let allowed = dir.path().join("tokens");
        std::fs::create_dir(&allowed).expect("mkdir");
        std::fs::write(allowed.join("token"), "eyJ.token").expect("write");
        let outside = dir.path().join("outside");
        std::fs::write(&outside, "sekrit").expect("write");
        std::os::unix::fs::symlink(&outside, allowed.join("link")).expect("symlink");
        std::os::unix::fs::symlink("/proc/self/environ", allowed.join("environ")).expect("symlink");
        let dirs = [allowed.clone()];
        assert_eq!(
            read_checked(&allowed.join("token"), &dirs),
            Ok("eyJ.token".to_string())
        );
        let e = read_checked(&allowed.join("link"), &dirs)
            .expect_err("link out")
            .to_string();
        assert!(
            e.contains("resolves outside") && !e.contains("sekrit"),
            "{e}"
        );
        let e = read_checked(&allowed.join("environ"), &dirs)
            .expect_err("proc")
            .to_string();
        assert!(e.contains("outside") || e.contains("never"), "{e}");
        std::fs::write(allowed.join("big"), vec![b'a'; 70_000]).expect("write");
        let e = read_checked(&allowed.join("big"), &dirs)
            .expect_err("big")
            .to_string();
        assert!(e.contains("larger"), "{e}");
        let e = read_checked(&allowed.join("missing"), &dirs)
            .expect_err("missing")
            .to_string();
        assert!(e.contains("cannot be read"), "{e}");
    }
}
