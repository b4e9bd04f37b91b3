//! The `read_only` command preset: an allowlist checked on a real parse of the command.
//!
//! The command is parsed as bash syntax (brush-parser). Every simple command, wherever it
//! stands (pipelines, `&&`/`||`/`;` lists, `if`/`for`/`while`/`until`/`case`, subshells,
//! brace groups), must be a literal name from the read-only set ([`commands`]), used without
//! its writing options; redirections may write to `/dev/null` only; expansions that run
//! code are refused ([`words`]); function definitions, `((…))` and anything the parser
//! cannot read are refused. This is a guardrail against a model's mistakes, not a sandbox.

#[cfg(test)]
mod attacks;
mod commands;
mod scripts;
mod subcommands;
#[cfg(test)]
mod tests;
mod utilities;
mod words;
mod wrappers;

use brush_parser::ast::{
    Command, CommandPrefixOrSuffixItem, CompoundCommand, CompoundList, ExtendedTestExpr,
    IoFileRedirectKind, IoFileRedirectTarget, IoRedirect, Pipeline, SimpleCommand,
};
use brush_parser::{Parser, ParserOptions, SourceInfo};

use crate::error::{Error, Result};
use words::WordInfo;

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
    program.complete_commands.iter().try_for_each(list)
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

fn list(l: &CompoundList) -> Check {
    for item in &l.0 {
        for (_, p) in item.0.iter() {
            pipeline(p)?;
        }
    }
    Ok(())
}

fn pipeline(p: &Pipeline) -> Check {
    p.seq.iter().try_for_each(command)
}

fn command(c: &Command) -> Check {
    match c {
        Command::Simple(s) => simple(s),
        Command::Compound(cc, redirects) => {
            if let Some(r) = redirects {
                r.0.iter().try_for_each(redirect)?;
            }
            compound(cc)
        }
        Command::Function(f) => Err(format!(
            "defining a function (`{}`) is not allowed; run the commands directly",
            f.fname.value
        )),
        Command::ExtendedTest(t) => extended_test(&t.expr),
    }
}

fn compound(c: &CompoundCommand) -> Check {
    match c {
        CompoundCommand::Arithmetic(_) | CompoundCommand::ArithmeticForClause(_) => {
            Err("arithmetic commands `((…))` are not allowed".into())
        }
        CompoundCommand::BraceGroup(b) => list(&b.list),
        CompoundCommand::Subshell(s) => list(&s.list),
        CompoundCommand::ForClause(f) => {
            variable(&f.variable_name)?;
            for w in f.values.iter().flatten() {
                words::analyze(&w.value)?;
            }
            list(&f.body.list)
        }
        CompoundCommand::CaseClause(c) => {
            words::analyze(&c.value.value)?;
            for item in &c.cases {
                for p in &item.patterns {
                    words::analyze(&p.value)?;
                }
                if let Some(l) = &item.cmd {
                    list(l)?;
                }
            }
            Ok(())
        }
        CompoundCommand::IfClause(i) => {
            list(&i.condition)?;
            list(&i.then)?;
            for e in i.elses.iter().flatten() {
                if let Some(c) = &e.condition {
                    list(c)?;
                }
                list(&e.body)?;
            }
            Ok(())
        }
        CompoundCommand::WhileClause(w) | CompoundCommand::UntilClause(w) => {
            list(&w.0)?;
            list(&w.1.list)
        }
    }
}

/// `[[ … ]]`: no `-v`/`-R` (they evaluate array subscripts), and arithmetic comparisons
/// only between literal numbers (their operands are evaluated as arithmetic, which can run
/// code hidden in a variable).
fn extended_test(e: &ExtendedTestExpr) -> Check {
    use brush_parser::ast::{BinaryPredicate as B, UnaryPredicate as U};
    match e {
        ExtendedTestExpr::And(a, b) | ExtendedTestExpr::Or(a, b) => {
            extended_test(a)?;
            extended_test(b)
        }
        ExtendedTestExpr::Not(a) | ExtendedTestExpr::Parenthesized(a) => extended_test(a),
        ExtendedTestExpr::UnaryTest(p, w) => {
            if matches!(
                p,
                U::ShellVariableIsSetAndAssigned | U::ShellVariableIsSetAndNameRef
            ) {
                return Err("`-v` and `-R` tests are not allowed".into());
            }
            words::analyze(&w.value).map(drop)
        }
        ExtendedTestExpr::BinaryTest(p, l, r) => {
            let (l, r) = (words::analyze(&l.value)?, words::analyze(&r.value)?);
            let arithmetic = matches!(
                p,
                B::ArithmeticEqualTo
                    | B::ArithmeticNotEqualTo
                    | B::ArithmeticLessThan
                    | B::ArithmeticLessThanOrEqualTo
                    | B::ArithmeticGreaterThan
                    | B::ArithmeticGreaterThanOrEqualTo
            );
            let number = |w: &WordInfo| {
                w.value.as_deref().is_some_and(|v| {
                    let digits = v.strip_prefix('-').unwrap_or(v);
                    !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())
                })
            };
            if arithmetic && !(number(&l) && number(&r)) {
                return Err(format!(
                    "`[[ {} … {} ]]` compares as arithmetic, which can run code hidden in a \
                     variable; use `[ … ]` (test) for numbers",
                    l.raw, r.raw
                ));
            }
            Ok(())
        }
    }
}

fn variable(name: &str) -> Check {
    if assignable(name) {
        Ok(())
    } else {
        Err(format!(
            "assigning `{name}` is not allowed (it could change what runs); use a lower-case \
             variable name"
        ))
    }
}

/// A simple command: its assignments, redirections and words, then the command itself.
fn simple(s: &SimpleCommand) -> Check {
    let items = s.prefix.iter().flat_map(|p| &p.0);
    let suffix = s.suffix.iter().flat_map(|p| &p.0);
    let mut args = Vec::new();
    for item in items.chain(suffix) {
        match item {
            CommandPrefixOrSuffixItem::IoRedirect(r) => redirect(r)?,
            CommandPrefixOrSuffixItem::Word(w) => args.push(words::analyze(&w.value)?),
            CommandPrefixOrSuffixItem::AssignmentWord(a, w) => assignment(a, &w.value)?,
            CommandPrefixOrSuffixItem::ProcessSubstitution(..) => {
                return Err("process substitution `<(…)`/`>(…)` is not allowed".into());
            }
        }
    }
    let Some(name) = &s.word_or_name else {
        // Assignments and redirections alone.
        return Ok(());
    };
    commands::check(&words::analyze(&name.value)?, &args, false, 0)
}

fn assignment(a: &brush_parser::ast::Assignment, raw: &str) -> Check {
    use brush_parser::ast::{AssignmentName, AssignmentValue};
    match (&a.name, &a.value) {
        (AssignmentName::VariableName(name), AssignmentValue::Scalar(v)) => {
            variable(name)?;
            words::analyze(&v.value).map(drop)
        }
        _ => Err(format!(
            "array assignments (`{raw}`) are not allowed; assign plain variables"
        )),
    }
}

/// Output may go to `/dev/null` or to another descriptor; input may come from anywhere.
fn redirect(r: &IoRedirect) -> Check {
    const ALLOWED: &str = "only `>/dev/null`, `2>/dev/null`, `2>&1`-style duplications, \
                           input `<`, here-documents and here-strings are allowed";
    let to_null = |w: &str| -> Check {
        if words::analyze(w)?.is("/dev/null") {
            Ok(())
        } else {
            Err(format!(
                "output redirection to `{w}` is not allowed ({ALLOWED})"
            ))
        }
    };
    match r {
        IoRedirect::File(_, kind, target) => match (kind, target) {
            (_, IoFileRedirectTarget::ProcessSubstitution(..)) => {
                Err("process substitution `<(…)`/`>(…)` is not allowed".into())
            }
            (IoFileRedirectKind::Read, IoFileRedirectTarget::Filename(w)) => {
                words::analyze(&w.value).map(drop)
            }
            (
                IoFileRedirectKind::Write
                | IoFileRedirectKind::Append
                | IoFileRedirectKind::Clobber
                | IoFileRedirectKind::ReadAndWrite,
                IoFileRedirectTarget::Filename(w),
            ) => to_null(&w.value),
            (_, IoFileRedirectTarget::Fd(_)) => Ok(()),
            (
                IoFileRedirectKind::DuplicateInput | IoFileRedirectKind::DuplicateOutput,
                IoFileRedirectTarget::Duplicate(w),
            ) => {
                // `>&2`, `2>&-`; `>&file` would write both streams to a file.
                let w = words::analyze(&w.value)?;
                match w.value.as_deref() {
                    Some(v)
                        if v == "-" || (!v.is_empty() && v.chars().all(|c| c.is_ascii_digit())) =>
                    {
                        Ok(())
                    }
                    _ => Err(format!("`>&{}` is not allowed ({ALLOWED})", w.raw)),
                }
            }
            (_, IoFileRedirectTarget::Filename(w) | IoFileRedirectTarget::Duplicate(w)) => {
                Err(format!(
                    "the redirection to `{}` is not allowed ({ALLOWED})",
                    w.value
                ))
            }
        },
        IoRedirect::OutputAndError(w, _) => to_null(&w.value),
        IoRedirect::HereString(_, w) => words::analyze(&w.value).map(drop),
        IoRedirect::HereDocument(_, doc) => {
            if doc.requires_expansion {
                words::check_here_document(&doc.doc.value)
            } else {
                Ok(())
            }
        }
    }
}
