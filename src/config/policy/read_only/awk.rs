//! `awk`, whose programs can write files and run commands: the program is read and refused
//! when it could. Wherever the reading is unsure it refuses: a program it cannot follow is
//! not a simple one.

use super::Check;
use super::words::WordInfo;

/// `awk` with `-F`/`-v` only and a program that has no `system`, no `|` (pipes to and
/// from commands), no `>`/`>>` redirection of `print`/`printf`, and no `@` directive.
pub(super) fn awk(args: &[WordInfo]) -> Check {
    let mut words = args.iter();
    while let Some(a) = words.next() {
        let Some(v) = a.value.as_deref() else {
            return Err(format!(
                "`awk`: the program `{}` must be written literally",
                a.raw
            ));
        };
        match v {
            "--" => {
                let p = words
                    .next()
                    .and_then(|w| w.value.as_deref())
                    .ok_or("`awk` needs a literal program")?;
                return awk_program(p);
            }
            "-F" | "-v" => {
                if !words.next().is_some_and(WordInfo::single) {
                    return Err(format!("`awk {v}` needs a quoted value"));
                }
            }
            _ if v.len() > 2 && (v.starts_with("-F") || v.starts_with("-v")) => {}
            _ if v.starts_with('-') => {
                return Err(format!(
                    "`awk {v}` is not allowed (only -F and -v; programs from files cannot be checked)"
                ));
            }
            program => return awk_program(program),
        }
    }
    Err("`awk` needs a program".into())
}

fn awk_program(p: &str) -> Check {
    let chars: Vec<char> = p.chars().collect();
    // Whether a `/` here starts a regular expression (else it divides).
    let mut regex_ok = true;
    // The open parentheses: whether each is the head of `if`/`while`/`for`/`switch`
    // (after its `)` a statement starts, where `/` begins a regular expression).
    let mut parens: Vec<bool> = Vec::new();
    let mut head_next = false;
    // The parenthesis depth of the `print`/`printf` statement being read, if any.
    let mut print_depth: Option<usize> = None;
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        let next = chars.get(i + 1).copied();
        i += 1;
        let keyword_before = std::mem::take(&mut head_next);
        match c {
            ' ' | '\t' => {
                head_next = keyword_before;
                continue;
            }
            '\\' => {
                // A continued line, or an escape outside a string (an error for awk).
                i += 1;
                head_next = keyword_before;
                continue;
            }
            '\n' | ';' | '{' | '}' => print_depth = None,
            '#' => {
                while chars.get(i).is_some_and(|c| *c != '\n') {
                    i += 1;
                }
                continue;
            }
            '"' => {
                i = skip_quoted(&chars, i, '"')?;
                regex_ok = false;
                continue;
            }
            '/' if regex_ok => {
                i = skip_quoted(&chars, i, '/')?;
                regex_ok = false;
                continue;
            }
            '|' if next == Some('|') => i += 1,
            '|' => {
                return Err(
                    "awk pipes (`|`, `| getline`) run commands; they are not allowed".into(),
                );
            }
            '@' => return Err("awk `@` directives and indirect calls are not allowed".into()),
            '>' if next == Some('>') || print_depth == Some(parens.len()) => {
                return Err(
                    "awk output redirection (`print > file`) writes files; it is not allowed"
                        .into(),
                );
            }
            '(' => parens.push(keyword_before),
            ')' => {
                regex_ok = parens.pop().unwrap_or(false);
                continue;
            }
            ']' => {
                regex_ok = false;
                continue;
            }
            '+' | '-' if next == Some(c) => {
                // `++`/`--`: after a postfix one a `/` divides.
                i += 1;
                regex_ok = false;
                continue;
            }
            c if c.is_ascii_alphanumeric() || c == '_' || c == '.' => {
                let start = i - 1;
                while chars
                    .get(i)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')
                {
                    i += 1;
                }
                let word: String = chars.get(start..i).unwrap_or_default().iter().collect();
                regex_ok = false;
                match word.as_str() {
                    "system" => {
                        return Err("awk `system()` runs commands; it is not allowed".into());
                    }
                    "getline" => return Err("awk `getline` is not allowed".into()),
                    "print" | "printf" => {
                        print_depth = Some(parens.len());
                        regex_ok = true;
                    }
                    "if" | "while" | "for" | "switch" => head_next = true,
                    "return" | "else" | "do" | "exit" | "in" | "case" => regex_ok = true,
                    _ => {}
                }
                continue;
            }
            _ => {}
        }
        regex_ok = true;
    }
    Ok(())
}

/// The index just past the closing `end` of a string or regular expression that starts
/// at `i`.
fn skip_quoted(chars: &[char], mut i: usize, end: char) -> Result<usize, String> {
    loop {
        match chars.get(i) {
            Some('\\') => i += 2,
            Some(c) if *c == end => return Ok(i + 1),
            Some('\n') | None => {
                return Err("awk: unterminated string or regular expression".into());
            }
            Some(_) => i += 1,
        }
    }
}
