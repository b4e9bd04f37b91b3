//! Paths on the machine running the server: `$HOME` and `~` expansion.

use std::path::PathBuf;

/// `$HOME`, the way OpenSSH finds it for path expansion; on Windows, where `HOME` is
/// usually unset, the user profile (`USERPROFILE`), as OpenSSH for Windows does.
pub fn home_dir() -> Option<PathBuf> {
    home_from(
        std::env::var_os("HOME"),
        std::env::var_os("USERPROFILE"),
        cfg!(windows),
    )
}

/// The home directory from the platform's inputs.
fn home_from(
    home: Option<std::ffi::OsString>,
    profile: Option<std::ffi::OsString>,
    windows: bool,
) -> Option<PathBuf> {
    let set = |v: Option<std::ffi::OsString>| v.filter(|h| !h.is_empty());
    set(home)
        .or_else(|| if windows { set(profile) } else { None })
        .map(PathBuf::from)
}

/// Expands a leading `~` or `~/` (on Windows also `~\`) to the home directory.
pub fn expand_tilde(path: &str) -> PathBuf {
    expand_tilde_in(path, home_dir(), cfg!(windows))
}

/// [`expand_tilde`] from the platform's inputs.
fn expand_tilde_in(path: &str, home: Option<PathBuf>, windows: bool) -> PathBuf {
    let separator = |c: char| c == '/' || (windows && c == '\\');
    match (path.strip_prefix('~'), home) {
        (Some(""), Some(home)) => home,
        (Some(rest), Some(home)) if rest.starts_with(separator) => {
            home.join(rest.trim_start_matches(separator))
        }
        _ => PathBuf::from(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_should_fall_back_to_the_user_profile_on_windows_only() {
        let p = |s: &str| Some(std::ffi::OsString::from(s));
        assert_eq!(
            home_from(p("/home/a"), p("C:/Users/a"), false),
            Some("/home/a".into())
        );
        assert_eq!(
            home_from(None, p(r"C:\Users\a"), true),
            Some(r"C:\Users\a".into())
        );
        assert_eq!(
            home_from(p(""), p(r"C:\Users\a"), true),
            Some(r"C:\Users\a".into())
        );
        assert_eq!(home_from(None, p(r"C:\Users\a"), false), None);
    }

    #[test]
    fn expand_tilde_should_only_touch_a_leading_home_reference() {
        let home = home_dir().unwrap();
        assert_eq!(expand_tilde("~/.ssh/id"), home.join(".ssh/id"));
        assert_eq!(expand_tilde("~"), home);
        assert_eq!(expand_tilde("/abs/~/x"), PathBuf::from("/abs/~/x"));
        assert_eq!(expand_tilde("~other/x"), PathBuf::from("~other/x"));
    }

    #[test]
    fn a_windows_path_should_expand_from_the_profile_with_either_separator() {
        let profile = Some(PathBuf::from(r"C:\Users\a"));
        let win = |p: &str| expand_tilde_in(p, profile.clone(), true);
        assert_eq!(
            win(r"~\.ssh\id_ed25519"),
            profile.clone().unwrap().join(r".ssh\id_ed25519")
        );
        assert_eq!(win("~/.ssh/id"), profile.clone().unwrap().join(".ssh/id"));
        assert_eq!(win(r"C:\keys\id"), PathBuf::from(r"C:\keys\id"));
        // On Unix a backslash is an ordinary character in a file name.
        let unix = expand_tilde_in(r"~\x", Some("/home/a".into()), false);
        assert_eq!(unix, PathBuf::from(r"~\x"));
    }
}
