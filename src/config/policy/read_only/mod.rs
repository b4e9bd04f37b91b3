//! The `read_only` command preset: an allowlist checked on a real parse of the command.
//!
//! The command is parsed as bash syntax (brush-parser). Every simple command, wherever it
//! stands (pipelines, `&&`/`||`/`;` lists, `if`/`for`/`while`/`until`/`case`, subshells,
//! brace groups), must be a literal name from the read-only set ([`commands`]), used without
//! its writing options; redirections may write to `/dev/null` only; expansions that run
//! code are refused ([`words`]); function definitions, `((…))` and anything the parser
//! cannot read are refused. This is a guardrail against a model's mistakes, not a sandbox.
//!
//! This file holds the entry point and the checks made before parsing. The rest, by concern:
//! - [`walk`]: the walk over the parsed command, its assignments, tests and redirections;
//! - [`words`]: what a word expands to, and the expansions that are refused;
//! - [`commands`]: the read-only set and the option rules of its commands;
//! - [`utilities`]: commands with rules of their own (`find`, `test`, `date`, `env`, …);
//! - [`wrappers`]: commands that run another command (`sudo`, `timeout`, `xargs`, …);
//! - [`sed`] and [`awk`]: their scripts and programs, which can write and run commands;
//! - [`subcommands`]: tools driven by a subcommand, and the system ones (`systemctl`, `ip`);
//! - [`devtools`]: `git`, `docker` and `kubectl`;
//! - `tests` and `attacks`: what is accepted and refused, and known attack shapes.

#[cfg(test)]
mod attacks;
mod awk;
mod commands;
mod devtools;
mod sed;
mod subcommands;
#[cfg(test)]
mod tests;
mod utilities;
mod walk;
mod words;
mod wrappers;

use brush_parser::{Parser, ParserOptions, SourceInfo};

use crate::error::{Error, Result};

/// A refusal: why, in words for the model (after "read-only mode: ").
type Check = std::result::Result<(), String>;

/// Most `(`, `{` and opening keywords in a command: the parser recurses once per level of
/// nesting, and a deep enough input would exhaust the thread's stack.
const MAX_NESTING: usize = 48;

/// Refuses a command line that is not a composition of known read-only commands.
pub(super) fn check(command: &str) -> Result<()> {
    // The parser recurses on nesting: the bound in `inspect` keeps it shallow, and a thread
    // with a large stack of its own gives it room to spare.
    let owned = command.to_string();
    let verdict = std::thread::Builder::new()
        .name("read-only-check".into())
        .stack_size(PARSER_STACK)
        .spawn(move || inspect(&owned))
        .map_err(|e| Error::io("starting the command check", e))?
        .join()
        .unwrap_or_else(|_| Err("the command could not be checked".into()));
    verdict.map_err(|why| Error::Policy(format!("read-only mode: {why}")))
}

/// Stack of the thread that parses a command under the `read_only` preset.
const PARSER_STACK: usize = 64 * 1024 * 1024;

/// Whether `name` may be assigned (before a command, alone, as a `for` or `read` variable):
/// lowercase shell variables and the locale, time zone and terminal size. Upper-case names
/// are refused because so many of them change what runs (`PATH`, `LD_PRELOAD`, `BASH_ENV`,
/// `IFS`, `PS4`, `GIT_CONFIG_*`, `PAGER`, …); so are the lower-case ones some shells tie to
/// the command search or to hooks (zsh's `path`, `fpath`, `chpwd_functions`, …).
pub(super) fn assignable(name: &str) -> bool {
    const UPPER: &[&str] = &[
        "LANG", "LANGUAGE", "TZ", "COLUMNS", "LINES", "TERM", "NO_COLOR",
    ];
    const SPECIAL_LOWER: &[&str] = &[
        "path",
        "fpath",
        "cdpath",
        "manpath",
        "mailpath",
        "module_path",
        "prompt",
        "psvar",
        "histchars",
    ];
    let lower = name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    let valid_upper = name.starts_with(|c: char| c.is_ascii_uppercase())
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    // fish finds commands and functions through its `fish_*` variables.
    (lower
        && !SPECIAL_LOWER.contains(&name)
        && !name.ends_with("_functions")
        && !name.starts_with("fish_"))
        || UPPER.contains(&name)
        || (valid_upper && name.starts_with("LC_"))
}

/// The parser's view of the shell: bash, extended globs off (so `*(…)` and `@(…)`, which
/// other shells read as code, do not parse).
fn parser_options() -> ParserOptions {
    ParserOptions {
        enable_extended_globbing: false,
        posix_mode: false,
        sh_mode: false,
        tilde_expansion: true,
    }
}

fn inspect(command: &str) -> Check {
    if let Some(c) = command
        .chars()
        .find(|c| c.is_control() && !matches!(c, '\n' | '\t'))
    {
        return Err(format!(
            "the command contains the control character {c:?}; only printable text, tabs and newlines are accepted"
        ));
    }
    if let Some(why) = shell_differential(command) {
        return Err(why);
    }
    if nesting_bound(command) > MAX_NESTING {
        return Err(format!(
            "the command has more than {MAX_NESTING} `(`, `{{`, `if`, `for`, `while`, `until` \
             and `case` (which nest); split it into several commands"
        ));
    }
    let program = Parser::new(
        std::io::Cursor::new(command.as_bytes()),
        &parser_options(),
        &SourceInfo::default(),
    )
    .parse_program()
    .map_err(|e| {
        format!(
            "the command could not be parsed as shell syntax ({e}), and a command that cannot \
             be read is refused"
        )
    })?;
    program.complete_commands.iter().try_for_each(walk::list)
}

/// An upper bound of the command's nesting depth: every `(`, `{`, `!`, `&&`, `||` and
/// opening keyword counts, closed or not, quoted or not (the parser recurses on each).
fn nesting_bound(command: &str) -> usize {
    let brackets = command
        .chars()
        .filter(|c| matches!(c, '(' | '{' | '!'))
        .count();
    let operators = command.matches("&&").count() + command.matches("||").count();
    let keywords = command
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| matches!(*w, "if" | "for" | "while" | "until" | "case" | "select"))
        .count();
    brackets + operators + keywords
}

/// What the parser (bash's reading) and another login shell would read differently:
/// `\'` or `\\` inside single quotes (fish reads them as a quote and a backslash, so what
/// bash takes for text can become code), and a line continuation in a here-document (bash and zsh join
/// the lines before looking for the delimiter).
fn shell_differential(command: &str) -> Option<String> {
    let mut chars = command.chars().peekable();
    let mut single = false;
    let mut double = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' if single && matches!(chars.peek(), Some('\'' | '\\')) => {
                return Some(
                    "a backslash inside single quotes is read differently by fish; write it \
                     outside the quotes or in double quotes"
                        .into(),
                );
            }
            '\\' => {
                chars.next();
            }
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            _ => {}
        }
    }
    if command.contains("<<") && command.lines().any(|l| l.ends_with('\\')) {
        return Some(
            "a line continuation in a command with a here-document is not allowed in read-only \
             mode (shells differ on where the here-document ends)"
                .into(),
        );
    }
    None
}
