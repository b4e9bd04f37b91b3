//! What a shell word can become once the shell expands it.
//!
//! Expansions that run code (`$(…)`, backquotes, `$((…))`, `$[…]`) and the parameter forms
//! that evaluate arithmetic (`${a[i]}`, `${x:1:2}`) or look up other names (`${!x}`) are
//! refused. Of the rest, a word is either static (its value is known) or described by what
//! can be known of it: its first character and whether it can turn into several words.

use brush_parser::word::{self, Parameter, ParameterExpr, WordPiece, WordPieceWithSource};

use super::{Check, parser_options};

/// A word of the command line, as far as it can be known before it runs.
#[derive(Debug)]
pub(super) struct WordInfo {
    /// The word as written.
    pub raw: String,
    /// Its value, when nothing in it expands.
    pub value: Option<String>,
    /// The first character of its expansion, when that is known.
    pub lead: Option<char>,
    /// It holds an unquoted `$x` (or `"$@"`): field splitting can make it zero or several
    /// words, each of them anything.
    pub splits: bool,
    /// It holds unquoted glob or brace characters: it can become several words, all starting
    /// with its literal prefix.
    pub globs: bool,
}

impl WordInfo {
    /// Whether the word is exactly `s` (static, whatever the quoting).
    pub fn is(&self, s: &str) -> bool {
        self.value.as_deref() == Some(s)
    }

    /// Whether no word it expands to can start with `-` (so none can be taken for an option).
    pub fn cannot_be_option(&self) -> bool {
        match &self.value {
            Some(v) => !v.starts_with('-'),
            None => !self.splits && self.lead.is_some_and(|c| c != '-'),
        }
    }

    /// Whether it stays exactly one word.
    pub fn single(&self) -> bool {
        !self.splits && !self.globs
    }
}

/// Parses a word; refuses the expansions that run code.
pub(super) fn analyze(raw: &str) -> Result<WordInfo, String> {
    let pieces = word::parse(raw, &parser_options())
        .map_err(|_| format!("the word `{raw}` could not be parsed"))?;
    let mut info = WordInfo {
        raw: raw.to_string(),
        value: Some(String::new()),
        lead: None,
        splits: false,
        globs: false,
    };
    let mut lead_known = false;
    for p in &pieces {
        piece(raw, &p.piece, false, &mut info, &mut lead_known)?;
    }
    Ok(info)
}

/// Adds one piece of the word to `info`. `lead_known` is set once the first character of
/// the expansion is decided (known or unknown).
fn piece(
    raw: &str,
    p: &WordPiece,
    quoted: bool,
    info: &mut WordInfo,
    lead_known: &mut bool,
) -> Check {
    let literal = |s: &str, info: &mut WordInfo, lead_known: &mut bool| {
        if !*lead_known && let Some(c) = s.chars().next() {
            info.lead = Some(c);
            *lead_known = true;
        }
        if let Some(v) = info.value.as_mut() {
            v.push_str(s);
        }
    };
    let unknown = |info: &mut WordInfo, lead_known: &mut bool| {
        info.value = None;
        *lead_known = true;
    };
    match p {
        WordPiece::Text(s) => {
            if let Some(c) = s.chars().find(|c| "$`".contains(*c)) {
                return Err(format!(
                    "`{c}` in `{raw}` is not allowed here (only plain `$name` expansions are)"
                ));
            }
            if !quoted {
                if let Some(c) = s.chars().find(|c| "()<>|;&\n".contains(*c)) {
                    return Err(format!("unquoted `{c}` in the word `{raw}`; quote it"));
                }
                // `{}` and `{x}` stay as they are: braces expand only around `,` or `..`.
                let braces = raw.contains(',') || raw.contains("..");
                if let Some(i) = s.find(|c| "*?[".contains(c) || (c == '{' && braces)) {
                    literal(&s[..i], info, lead_known);
                    unknown(info, lead_known);
                    info.globs = true;
                    return Ok(());
                }
            }
            literal(s, info, lead_known);
        }
        WordPiece::SingleQuotedText(s) => literal(s, info, lead_known),
        WordPiece::EscapeSequence(s) => {
            let c = s.strip_prefix('\\').unwrap_or(s);
            let kept = if !quoted || c.starts_with(['$', '`', '"', '\\', '\n']) {
                c.trim_start_matches('\n')
            } else {
                s.as_str()
            };
            literal(kept, info, lead_known);
        }
        WordPiece::TildePrefix(_) => {
            // `~` or `~user`: a home directory (or the text itself when there is none).
            literal("/", info, lead_known);
            unknown(info, lead_known);
        }
        WordPiece::AnsiCQuotedText(_) => unknown(info, lead_known),
        WordPiece::DoubleQuotedSequence(inner) | WordPiece::GettextDoubleQuotedSequence(inner) => {
            if matches!(p, WordPiece::GettextDoubleQuotedSequence(_)) {
                unknown(info, lead_known);
            }
            if inner.is_empty() {
                // `""` is an empty word: it still is one word.
                return Ok(());
            }
            for WordPieceWithSource { piece: q, .. } in inner {
                piece(raw, q, true, info, lead_known)?;
            }
        }
        WordPiece::ParameterExpansion(expr) => {
            if !plain_parameter(expr) {
                return Err(format!(
                    "the expansion in `{raw}` is not allowed (only plain `$name`, `${{name}}`, \
                     `$1`, `$?` and `${{#name}}` are)"
                ));
            }
            if !quoted || all_positional(expr) {
                info.splits = true;
            }
            unknown(info, lead_known);
        }
        WordPiece::CommandSubstitution(_) | WordPiece::BackquotedCommandSubstitution(_) => {
            return Err(format!(
                "command substitution (`$(…)` or backquotes) in `{raw}` is not allowed"
            ));
        }
        WordPiece::ArithmeticExpression(_) => {
            return Err(format!(
                "arithmetic expansion `$((…))` in `{raw}` is not allowed"
            ));
        }
    }
    Ok(())
}

/// `$x`, `${x}`, `$1`, `$?`, `$@` and `${#x}`: no arithmetic, no indirection, no
/// substitution text.
fn plain_parameter(expr: &ParameterExpr) -> bool {
    let simple = |p: &Parameter| {
        matches!(
            p,
            Parameter::Positional(_) | Parameter::Special(_) | Parameter::Named(_)
        )
    };
    match expr {
        ParameterExpr::Parameter {
            parameter,
            indirect: false,
        }
        | ParameterExpr::ParameterLength {
            parameter,
            indirect: false,
        } => simple(parameter),
        _ => false,
    }
}

/// `$@`/`$*`: several words even when quoted.
fn all_positional(expr: &ParameterExpr) -> bool {
    matches!(
        expr,
        ParameterExpr::Parameter {
            parameter: Parameter::Special(word::SpecialParameter::AllPositionalParameters { .. }),
            ..
        }
    )
}

/// Refuses what a here-document whose delimiter is unquoted would run: its body goes
/// through `$…` and backquote expansion.
pub(super) fn check_here_document(body: &str) -> Check {
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '`' => return Err("a backquote in an expanding here-document is not allowed (quote the delimiter: <<'EOF')".into()),
            '$' => match chars.peek() {
                Some('(' | '[') => {
                    return Err("`$(` or `$[` in an expanding here-document is not allowed (quote the delimiter: <<'EOF')".into());
                }
                Some('{') => {
                    chars.next();
                    let name: String = chars.by_ref().take_while(|c| *c != '}').collect();
                    let plain = name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                        || (name.chars().count() == 1 && "?#$!@*-".contains(name.as_str()));
                    if name.is_empty() || !plain {
                        return Err(format!(
                            "`${{{name}}}` in an expanding here-document is not allowed (only plain `$name`)"
                        ));
                    }
                }
                _ => {}
            },
            _ => {}
        }
    }
    Ok(())
}
