//! `sed`, whose scripts can write files and run commands: the script is read and refused
//! when it could. Wherever the reading is unsure it refuses: a script it cannot follow is
//! not a simple one.

use super::Check;
use super::commands::unknown_argument;
use super::words::WordInfo;

/// `sed` without `-i`/`-f`, with scripts that have no `w`, `W` or `e` command and no `w`
/// or `e` flag of `s`.
pub(super) fn sed(args: &[WordInfo]) -> Check {
    const LONG: &[&str] = &[
        "debug",
        "expression",
        "file",
        "follow-symlinks",
        "in-place",
        "line-length",
        "null-data",
        "zero-terminated",
        "posix",
        "quiet",
        "silent",
        "regexp-extended",
        "sandbox",
        "separate",
        "unbuffered",
        "binary",
        "help",
        "version",
    ];
    let mut scripts: Vec<&str> = Vec::new();
    let mut expression = false;
    let mut operands = false;
    let mut dashdash = false;
    let mut words = args.iter();
    while let Some(a) = words.next() {
        let Some(v) = a.value.as_deref() else {
            if !(dashdash || a.cannot_be_option()) {
                return Err(unknown_argument("sed", a));
            }
            if !expression && !operands {
                return Err(format!(
                    "`sed`: the script `{}` must be written literally",
                    a.raw
                ));
            }
            operands = true;
            continue;
        };
        if dashdash || !v.starts_with('-') || v == "-" {
            if !expression && !operands {
                scripts.push(v);
            }
            operands = true;
        } else if v == "--" {
            dashdash = true;
        } else if let Some(long) = v.strip_prefix("--") {
            let (name, value) = long
                .split_once('=')
                .map_or((long, None), |(n, v)| (n, Some(v)));
            let mut hits = LONG.iter().filter(|o| o.starts_with(name));
            let option = match (LONG.contains(&name), hits.next(), hits.next()) {
                (true, ..) => name,
                (false, Some(o), None) => o,
                _ => return Err(format!("`sed --{name}` is not a known sed option")),
            };
            match option {
                "in-place" | "file" => {
                    return Err(format!(
                        "`sed --{option}` is not allowed (it writes, or reads a script that cannot be checked)"
                    ));
                }
                "expression" => {
                    scripts.push(match value {
                        Some(s) => s,
                        None => static_value(words.next())?,
                    });
                    expression = true;
                }
                "line-length" if value.is_none() => {
                    static_value(words.next())?;
                }
                _ => {}
            }
        } else {
            let cluster = v.get(1..).unwrap_or_default();
            for (i, c) in cluster.char_indices() {
                match c {
                    'n' | 'r' | 'E' | 's' | 'u' | 'z' => {}
                    'i' | 'f' => {
                        return Err(format!(
                            "`sed -{c}` is not allowed (it writes, or reads a script that cannot be checked)"
                        ));
                    }
                    'e' | 'l' => {
                        let rest = cluster.get(i + 1..).unwrap_or_default();
                        let value = if rest.is_empty() {
                            static_value(words.next())?
                        } else {
                            rest
                        };
                        if c == 'e' {
                            scripts.push(value);
                            expression = true;
                        }
                        break;
                    }
                    _ => return Err(format!("`sed -{c}` is not a known sed option")),
                }
            }
        }
    }
    scripts.into_iter().try_for_each(sed_script)
}

fn static_value(w: Option<&WordInfo>) -> Result<&str, String> {
    w.and_then(|w| w.value.as_deref())
        .ok_or_else(|| "`sed`: option values must be written literally".to_string())
}

/// A cursor over a script's characters.
struct Cursor<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
}

impl Cursor<'_> {
    fn skip_while(&mut self, f: impl Fn(char) -> bool) {
        while self.chars.next_if(|c| f(*c)).is_some() {}
    }

    /// Up to (not past) the end of a line or a `;`.
    fn skip_argument(&mut self) {
        self.skip_while(|c| c != '\n' && c != ';');
    }

    /// Past the closing `delim`, honouring backslash escapes.
    fn delimited(&mut self, delim: char) -> Check {
        loop {
            match self.chars.next() {
                Some('\\') => {
                    self.chars.next();
                }
                Some(c) if c == delim => return Ok(()),
                Some('\n') | None => return Err("`sed`: unterminated regular expression".into()),
                Some(_) => {}
            }
        }
    }

    /// Past the closing `delim` of a regular expression: as [`Self::delimited`], but a
    /// bracket expression (`[/]`, `[^]x]`, `[[:alpha:]]`) is one unit, as GNU sed reads
    /// it, so a delimiter inside one does not end the expression.
    fn regex(&mut self, delim: char) -> Check {
        loop {
            match self.chars.next() {
                Some('\\') => {
                    self.chars.next();
                }
                Some('[') => self.bracket()?,
                Some(c) if c == delim => return Ok(()),
                Some('\n') | None => return Err("`sed`: unterminated regular expression".into()),
                Some(_) => {}
            }
        }
    }

    /// The rest of a bracket expression, after its `[`.
    fn bracket(&mut self) -> Check {
        self.chars.next_if_eq(&'^');
        // A `]` right after the opening (and `^`) is a member, not the end.
        self.chars.next_if_eq(&']');
        loop {
            match self.chars.next() {
                Some(']') => return Ok(()),
                Some('[') => {
                    if let Some(kind @ (':' | '.' | '=')) =
                        self.chars.next_if(|c| matches!(c, ':' | '.' | '='))
                    {
                        // `[:class:]`, `[.coll.]`, `[=equiv=]`: up to the matching close.
                        let mut prev = None;
                        loop {
                            match self.chars.next() {
                                Some(']') if prev == Some(kind) => break,
                                Some('\n') | None => {
                                    return Err("`sed`: unterminated bracket expression".into());
                                }
                                c => prev = c,
                            }
                        }
                    }
                }
                Some('\n') | None => return Err("`sed`: unterminated bracket expression".into()),
                Some(_) => {}
            }
        }
    }

    fn address(&mut self) -> Check {
        match self.chars.peek() {
            Some(c) if c.is_ascii_digit() => {
                self.skip_while(|c| c.is_ascii_digit() || c == '~');
            }
            Some('$') => {
                self.chars.next();
            }
            Some('/') => {
                self.chars.next();
                self.regex('/')?;
                self.skip_while(|c| c == 'I' || c == 'M');
            }
            Some('\\') => {
                self.chars.next();
                let delim = self.chars.next().ok_or("`sed`: bad address")?;
                self.regex(delim)?;
                self.skip_while(|c| c == 'I' || c == 'M');
            }
            Some('+' | '~') => {
                self.chars.next();
                self.skip_while(|c| c.is_ascii_digit());
            }
            _ => {}
        }
        Ok(())
    }

    /// After a command: only blanks, then the end, `;`, a newline, `}` or a comment.
    fn end_of_command(&mut self) -> Check {
        self.skip_while(|c| c == ' ' || c == '\t');
        match self.chars.peek() {
            None | Some(';' | '\n' | '}' | '#') => Ok(()),
            Some(c) => Err(format!(
                "`sed`: unexpected `{c}` after a command; only simple scripts are accepted"
            )),
        }
    }
}

fn sed_script(script: &str) -> Check {
    let mut s = Cursor {
        chars: script.chars().peekable(),
    };
    loop {
        s.skip_while(|c| c.is_whitespace() || c == ';' || c == '}');
        if s.chars.peek() == Some(&'#') {
            s.skip_while(|c| c != '\n');
            continue;
        }
        if s.chars.peek().is_none() {
            return Ok(());
        }
        s.address()?;
        s.skip_while(|c| c == ' ' || c == '\t');
        if s.chars.next_if_eq(&',').is_some() {
            s.skip_while(|c| c == ' ' || c == '\t');
            s.address()?;
        }
        s.skip_while(|c| c == ' ' || c == '\t' || c == '!');
        let Some(cmd) = s.chars.next() else {
            return Err("`sed`: an address without a command".into());
        };
        match cmd {
            '{' => {}
            '=' | 'd' | 'D' | 'g' | 'G' | 'h' | 'H' | 'n' | 'N' | 'p' | 'P' | 'x' | 'z' | 'F' => {
                s.end_of_command()?;
            }
            'l' | 'q' | 'Q' | 'L' => {
                s.skip_while(|c| c == ' ' || c.is_ascii_digit());
                s.end_of_command()?;
            }
            ':' | 'b' | 't' | 'T' | 'v' | 'a' | 'i' | 'c' | 'r' | 'R' => s.skip_argument(),
            'w' | 'W' => return Err("the sed command `w` writes a file; it is not allowed".into()),
            'e' => return Err("the sed command `e` runs a command; it is not allowed".into()),
            's' | 'y' => {
                let delim = s
                    .chars
                    .next()
                    .filter(|d| *d != '\n' && *d != '\\')
                    .ok_or("`sed`: bad delimiter")?;
                if cmd == 's' {
                    s.regex(delim)?;
                } else {
                    s.delimited(delim)?;
                }
                s.delimited(delim)?;
                if cmd == 's' {
                    s.skip_while(|c| "gpiImM0123456789".contains(c));
                    if let Some(f @ ('w' | 'e')) = s.chars.peek().copied() {
                        return Err(format!(
                            "the `{f}` flag of sed's `s` {} ; it is not allowed",
                            if f == 'w' {
                                "writes a file"
                            } else {
                                "runs a command"
                            }
                        ));
                    }
                }
                s.end_of_command()?;
            }
            c => return Err(format!("`sed`: unknown command `{c}`")),
        }
    }
}
