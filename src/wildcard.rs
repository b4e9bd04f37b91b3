//! OpenSSH-style wildcards, shared by known_hosts patterns and the host allowlist.

/// Glob match with `*` (any run, including empty) and `?` (one character).
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == '?' || Some(&c) == t.get(ti) => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p.get(pi..)
        .is_some_and(|rest| rest.iter().all(|&c| c == '*'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_match_should_follow_openssh_globs() {
        let cases = [
            ("*", "anything", true),
            ("*.example.com", "a.example.com", true),
            ("*.example.com", "example.com", false),
            ("host?", "host1", true),
            ("host?", "host12", false),
            ("[h*]:2222", "[host]:2222", true),
            ("[h*]:2222", "[host]:22", false),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "aXbY", false),
            ("", "", true),
        ];
        for (p, t, want) in cases {
            assert_eq!(wildcard_match(p, t), want, "{p:?} vs {t:?}");
        }
    }
}
