//! The walk over a parsed command: lists, pipelines and compound commands down to each
//! simple command, with its assignments, `[[ … ]]` tests and redirections.

use brush_parser::ast::{
    Command, CommandPrefixOrSuffixItem, CompoundCommand, CompoundList, ExtendedTestExpr,
    IoFileRedirectKind, IoFileRedirectTarget, IoRedirect, Pipeline, SimpleCommand,
};

use super::words::{self, WordInfo};
use super::{Check, assignable, commands};

pub(super) fn list(l: &CompoundList) -> Check {
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
