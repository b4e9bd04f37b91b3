//! Command lines the preset once accepted that a login shell runs as writes or other
//! commands. Each is refused; a legitimate use stays beside it.

use super::check;

fn refused(command: &str) {
    assert!(
        check(command).is_err(),
        "{command:?} was accepted, yet a login shell writes /tmp/p or runs a command from it"
    );
}

fn accepted(command: &str) {
    if let Err(e) = check(command) {
        panic!("{command:?} should be accepted: {e}");
    }
}

/// `xargs` appends what it reads to the wrapper's arguments: with no command of their
/// own, `sudo`, `nice`, `timeout 5` and `xargs` run whatever stdin names.
#[test]
fn read_only_should_refuse_a_wrapper_under_xargs_that_names_no_command() {
    accepted("ls / | xargs wc -l");
    accepted("ls / | xargs nice wc -l");
    for wrapper in [
        "sudo",
        "sudo -n",
        "nice",
        "nice -n 5",
        "timeout 5",
        "xargs",
        "xargs -0",
    ] {
        refused(&format!("echo touch /tmp/p | xargs {wrapper}"));
    }
    // The same through `--`.
    refused("echo touch /tmp/p | xargs -- nice --");
}

/// GNU sed reads a `/` inside a bracket expression as part of the regular expression;
/// the check ends the regular expression there, reads `#` as the start of a comment and
/// never sees the `w` or `e` flag.
#[test]
fn read_only_should_refuse_sed_flags_hidden_behind_a_bracket_expression() {
    accepted("sed -n 's/a/b/p' /etc/hostname");
    refused("sed 's/[//#]/X/w /tmp/p' /etc/hostname");
    refused(r"echo x | sed 's/[//#]*x/touch \/tmp\/p/e'");
    refused("sed -e 's/[//#]/X/w /tmp/p' /etc/hostname");
}

/// In bash and zsh, a backslash-newline inside the body of a here-document with an
/// unquoted delimiter joins lines before the delimiter is looked for: `EO\` + `F` ends
/// the here-document, and the next line runs as a command. The parser reads on.
#[test]
fn read_only_should_refuse_commands_after_a_delimiter_split_by_a_line_continuation() {
    accepted("cat <<EOF\nhello\nEOF");
    refused("cat <<EOF\nEO\\\nF\ntouch /tmp/p\nEOF");
    refused("cat <<EOF\nE\\\nO\\\nF\ntouch /tmp/p\nEOF");
}

/// fish reads `\'` inside single quotes as an escaped quote: `'a\' "b'` is one string to
/// fish, after which `(touch /tmp/p)` is a command substitution; bash reads `'a\'` and a
/// double-quoted string holding the rest.
#[test]
fn read_only_should_refuse_words_fish_reads_as_command_substitution() {
    accepted("echo 'a b' \"c d\"");
    refused(r#"echo 'a\' "b' (touch /tmp/p) #""#);
    refused(r#"grep 'x\' "y' (touch /tmp/p) #" /etc/hostname"#);
}

/// fish rebuilds `PATH` from `fish_user_paths` (and looks functions up in
/// `fish_function_path`): lower-case names, so the assignment rule passes them, and a
/// program another user left in a directory then runs under a read-only name.
#[test]
fn read_only_should_refuse_fish_variables_that_change_the_command_search() {
    accepted("x=1 ls /");
    refused("fish_user_paths=/tmp/x ls /");
    refused("fish_function_path=/tmp/x ls /");
    refused("fish_complete_path=/tmp/x ls /");
}
