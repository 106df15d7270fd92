//! User-name glob patterns for exemptions: `*` matches any run of characters, `?` one
//! character. Matching ignores ASCII case, because IAM user names are unique ignoring
//! case (`Admin` and `admin` are the same user to a human reading the exemption list).

/// A validated glob pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    pattern: String,
}

impl Glob {
    /// Validates a pattern. Only `*` and `?` are special; `[`, `]`, `{`, `}` and `\` are
    /// rejected rather than taken literally, so nobody mistakes this for a richer syntax.
    pub fn new(pattern: &str) -> Result<Glob, String> {
        if pattern.is_empty() {
            return Err("a non-empty pattern".to_string());
        }
        if let Some(c) = pattern.chars().find(|c| "[]{}\\".contains(*c)) {
            return Err(format!("a pattern using only `*` and `?` as wildcards (found {c:?})"));
        }
        Ok(Glob {
            pattern: pattern.to_string(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// Whether `name` matches, ignoring ASCII case.
    pub fn matches(&self, name: &str) -> bool {
        let p: Vec<char> = self.pattern.chars().map(|c| c.to_ascii_lowercase()).collect();
        let n: Vec<char> = name.chars().map(|c| c.to_ascii_lowercase()).collect();
        // Iterative wildcard matching with backtracking to the last `*`.
        let (mut pi, mut ni) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        while ni < n.len() {
            if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
                pi += 1;
                ni += 1;
            } else if pi < p.len() && p[pi] == '*' {
                star = Some((pi, ni));
                pi += 1;
            } else if let Some((sp, sn)) = star {
                pi = sp + 1;
                ni = sn + 1;
                star = Some((sp, sn + 1));
            } else {
                return false;
            }
        }
        p[pi..].iter().all(|c| *c == '*')
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn wildcards() {
        let g = Glob::new("break-glass-*").unwrap();
        assert!(g.matches("break-glass-1"));
        assert!(g.matches("Break-Glass-admin"));
        assert!(!g.matches("xbreak-glass-1"));
        assert!(Glob::new("svc-?").unwrap().matches("svc-a"));
        assert!(!Glob::new("svc-?").unwrap().matches("svc-ab"));
        assert!(Glob::new("*").unwrap().matches(""));
        assert!(Glob::new("a*b*c").unwrap().matches("a+=,.@_-bxxc"));
        assert!(!Glob::new("a*b*c").unwrap().matches("a+=,.@_-bxx"));
    }

    #[test]
    fn odd_iam_characters_are_literal() {
        let g = Glob::new("ci+deploy@corp.example").unwrap();
        assert!(g.matches("CI+deploy@corp.example"));
        assert!(!g.matches("ci-deploy@corp.example"));
    }

    proptest! {
        #[test]
        fn a_literal_pattern_matches_only_itself(name in "[A-Za-z0-9+=,.@_-]{1,64}", other in "[A-Za-z0-9+=,.@_-]{1,64}") {
            let g = Glob::new(&name).unwrap();
            prop_assert!(g.matches(&name));
            prop_assert_eq!(g.matches(&other), name.eq_ignore_ascii_case(&other));
        }

        #[test]
        fn prefix_star_matches_every_extension(prefix in "[a-z0-9+=,.@_-]{0,20}", rest in "[a-z0-9+=,.@_-]{0,20}") {
            let g = Glob::new(&format!("{prefix}*")).unwrap();
            let name = format!("{prefix}{rest}");
            prop_assert!(g.matches(&name));
        }
    }
}
