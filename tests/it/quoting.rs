//! `cwd` and `env` are data under every login shell: sh (dash), bash, zsh and fish read
//! them back unchanged, and none runs what they hold; `sudo: true` works under each.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde_json::json;

use crate::harness::Server;
use crate::sshd::{self, PASSWORD, Sshd};

/// Login shells besides bash (the test user's) and the package that provides each.
const OTHER_SHELLS: &[(&str, &str)] = &[
    ("/bin/dash", "dash"),
    ("/usr/bin/zsh", "zsh"),
    ("/usr/bin/fish", "fish"),
];

/// Hostile values; `M` stands for the path of a file that must never be created. The first
/// ends fish's single quotes early when `\` before `'` is left inside them.
const HOSTILE: &[&str] = &[
    r"x\'; touch M; echo \'y",
    r"x'; touch M; echo 'y",
    r"x\\'; touch M; #",
    r"x\\\'; touch M; #",
    "$(touch M)",
    "`touch M`",
    "(touch M)",
    "x'\ntouch M\necho 'y",
    "x\\\ntouch M",
    "x\\",
    "''",
    r#"'"'"'; touch M"#,
    "$HOME ~ ! !! * ? [a] {a,b} %self & | ; < > # $$ $fish_pid",
    "-n",
    "\n",
    "a\n\n",
    "\t\r\x1b\x7f \u{83}\u{9b}\u{f600}\u{f6ff}\u{fdd0}\u{fffd}\u{10ffff} é 😀",
];

/// The users to log in as, one per installed shell. A missing shell is reported, and fails
/// the test under CI, where `scripts/test` installs them all.
fn login_users() -> Vec<(String, String)> {
    let mut users = vec![("/bin/bash".to_string(), sshd::USER.to_string())];
    for (shell, package) in OTHER_SHELLS {
        match sshd::user_with_shell(shell) {
            Some(user) => users.push((shell.to_string(), user)),
            None => {
                eprintln!(
                    "SKIPPED under {shell}: not installed (apt-get install {package}); \
                     cwd and env are not checked under this login shell"
                );
                assert!(
                    std::env::var_os("CI").is_none(),
                    "{shell} is missing, and CI must check every login shell: install {package}"
                );
            }
        }
    }
    users
}

/// Makes `dir` and everything below it enterable by every user.
/// An sshd that lets in each of `users` (login shell, account).
fn sshd_letting_in(users: &[(String, String)]) -> Sshd {
    let allow: Vec<&str> = users.iter().map(|(_, u)| u.as_str()).collect();
    Sshd::builder()
        .config(format!("AllowUsers {}", allow.join(" ")))
        .start()
}

fn open_up(dir: &Path) {
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
    for e in fs::read_dir(dir).unwrap().flatten() {
        if e.file_type().unwrap().is_dir() {
            open_up(&e.path());
        }
    }
}

#[tokio::test]
async fn cwd_and_env_should_be_taken_literally_by_every_login_shell() {
    let users = login_users();
    let sshd = sshd_letting_in(&users);
    let srv = Server::stdio().await;

    let base = tempfile::Builder::new()
        .prefix("ssh-mcp-quoting-")
        .tempdir()
        .unwrap();
    let writable = base.path().join("w");
    fs::create_dir(&writable).unwrap();
    let marker = writable.join("injected");
    let marker = marker.to_str().unwrap();
    let values: Vec<String> = HOSTILE.iter().map(|v| v.replace('M', marker)).collect();
    let dirs: Vec<String> = values
        .iter()
        .map(|v| format!("{}/cwd/{v}", base.path().display()))
        .collect();
    for d in &dirs {
        fs::create_dir_all(d).unwrap();
    }
    open_up(base.path());
    fs::set_permissions(&writable, fs::Permissions::from_mode(0o1777)).unwrap();
    // A relative cwd starting with `-` (an option to `cd`), in each user's home.
    let dash_dir = format!("-quoting {}", std::process::id());

    for (shell, user) in &users {
        let s = srv
            .ok(
                "ssh_connect",
                json!({"address": sshd.address(), "username": user,
                       "key_path": sshd::user().key.to_str().unwrap()}),
            )
            .await["session_id"]
            .as_str()
            .unwrap()
            .to_string();
        // The legitimate use: a command of this shell sees plain values.
        let v = srv
            .ok("ssh_execute", json!({"session_id": s, "command": "printenv PLAIN; pwd", "cwd": "/usr/share", "env": {"PLAIN": "a b"}}))
            .await;
        assert_eq!(v["stdout"], "a b\n/usr/share\n", "{shell}: {v}");

        for (value, dir) in values.iter().zip(&dirs) {
            let v = srv
                .ok("ssh_execute", json!({"session_id": s, "command": "printenv HOSTILE", "env": {"HOSTILE": value}}))
                .await;
            assert_eq!(v["exit_code"], 0, "{shell}: env {value:?}: {v}");
            assert_eq!(
                v["stdout"],
                format!("{value}\n"),
                "{shell}: env {value:?}: {v}"
            );
            let v = srv
                .ok(
                    "ssh_execute",
                    json!({"session_id": s, "command": "pwd", "cwd": dir}),
                )
                .await;
            assert_eq!(v["exit_code"], 0, "{shell}: cwd {dir:?}: {v}");
            assert_eq!(v["stdout"], format!("{dir}\n"), "{shell}: cwd {dir:?}: {v}");
        }
        let v = srv
            .ok("ssh_execute", json!({"session_id": s, "command": "printenv EMPTY && echo set", "env": {"EMPTY": ""}}))
            .await;
        assert_eq!(v["stdout"], "\nset\n", "{shell}: {v}");

        let home = format!("/home/{user}");
        let relative = Path::new(&home).join(&dash_dir);
        fs::create_dir_all(&relative).unwrap();
        let v = srv
            .ok(
                "ssh_execute",
                json!({"session_id": s, "command": "pwd", "cwd": dash_dir}),
            )
            .await;
        fs::remove_dir(&relative).unwrap();
        assert_eq!(v["stdout"], format!("{home}/{dash_dir}\n"), "{shell}: {v}");
        assert!(
            !Path::new(marker).exists(),
            "{shell}: a cwd or env value ran a command"
        );
    }
}

/// Gives `user` the test password and the right to run anything with sudo (giving it).
fn sudo_with_password(user: &str) {
    // Other test processes may edit /etc/shadow at the same moment (which fails on its lock).
    for attempt in 0.. {
        let mut child = std::process::Command::new("chpasswd")
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "{user}:{PASSWORD}").unwrap();
        drop(stdin);
        if child.wait().unwrap().success() {
            break;
        }
        assert!(attempt < 50, "could not set the password of {user}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let file = format!("/etc/sudoers.d/{user}");
    fs::write(&file, format!("{user} ALL=(ALL) ALL\n")).unwrap();
    fs::set_permissions(&file, fs::Permissions::from_mode(0o440)).unwrap();
}

/// The sudo wrapper is a POSIX sh script, whatever the login shell reads.
#[tokio::test]
async fn sudo_should_run_under_every_login_shell() {
    assert!(
        Path::new("/usr/bin/sudo").exists(),
        "sudo not found: install it with `apt-get install -y sudo` (scripts/test does)"
    );
    let users = login_users();
    let sshd = sshd_letting_in(&users);
    let srv = Server::stdio().await;
    for (shell, user) in &users {
        // The usual test user has both already; its sudoers file is shared with other
        // tests, which must never see it half written.
        if user == sshd::USER {
            crate::shell_sudo::sudoer();
        } else {
            sudo_with_password(user);
        }
        let s = srv
            .ok(
                "ssh_connect",
                json!({"address": sshd.address(), "username": user, "password": PASSWORD}),
            )
            .await["session_id"]
            .as_str()
            .unwrap()
            .to_string();
        let v = srv
            .ok(
                "ssh_execute",
                json!({"session_id": s, "sudo": true, "command": "id -u; printf '%s|' \"$X\"; cat",
                       "env": {"X": "a b"}, "stdin": "in\n"}),
            )
            .await;
        assert_eq!(v["stdout"], "0\na b|in\n", "{shell}: {v}");
        assert_eq!(v["exit_code"], 0, "{shell}: {v}");
    }
}
