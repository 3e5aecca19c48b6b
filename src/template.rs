//! Message templates: `Welcome {name}, your link: {vars.url}`-style text
//! with `{placeholder}`s resolved from a closed set of names fixed at load
//! time. Nothing a request sends can reach the text except parameters the
//! endpoint declares with a regex, so the proxy is never an open relay.
//! `{{` and `}}` stand for literal braces.

use crate::gsm;
use regex::Regex;
use std::collections::BTreeSet;
use std::fmt;

/// The longest text Nexmo accepts (status 12 above it).
const MAX_TEXT_CHARS: usize = 3200;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Var(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    pieces: Vec<Piece>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TemplateError {
    Unclosed(usize),
    StrayClose(usize),
    EmptyName(usize),
    Undefined(String),
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TemplateError::Unclosed(at) => write!(f, "unclosed '{{' at character {at} (write '{{{{' for a literal brace)"),
            TemplateError::StrayClose(at) => write!(f, "stray '}}' at character {at} (write '}}}}' for a literal brace)"),
            TemplateError::EmptyName(at) => write!(f, "empty placeholder '{{}}' at character {at}"),
            TemplateError::Undefined(name) => write!(
                f,
                "undefined variable {{{name}}}: use {{number}}, {{country}}, a key of the endpoint's [vars] or a parameter declared in its [params]"
            ),
        }
    }
}

impl Template {
    /// Parses `text` and checks every placeholder against `known`.
    fn parse(text: &str, known: &BTreeSet<String>) -> Result<Self, TemplateError> {
        let mut pieces = Vec::new();
        let mut buf = String::new();
        let mut chars = text.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match c {
                '{' if chars.peek().map(|p| p.1) == Some('{') => {
                    chars.next();
                    buf.push('{');
                }
                '}' if chars.peek().map(|p| p.1) == Some('}') => {
                    chars.next();
                    buf.push('}');
                }
                '{' => {
                    let mut name = String::new();
                    let mut closed = false;
                    for (_, c) in chars.by_ref() {
                        if c == '}' {
                            closed = true;
                            break;
                        }
                        name.push(c);
                    }
                    if !closed {
                        return Err(TemplateError::Unclosed(i));
                    }
                    let name = name.trim().to_string();
                    if name.is_empty() {
                        return Err(TemplateError::EmptyName(i));
                    }
                    if !known.contains(&name) {
                        return Err(TemplateError::Undefined(name));
                    }
                    if !buf.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut buf)));
                    }
                    pieces.push(Piece::Var(name));
                }
                '}' => return Err(TemplateError::StrayClose(i)),
                c => buf.push(c),
            }
        }
        if !buf.is_empty() {
            pieces.push(Piece::Text(buf));
        }
        Ok(Template { pieces })
    }

    /// Parses `text` and renders it once with `sample` values, so a text
    /// Nexmo would refuse fails at load time; returns the template and the
    /// SMS parts of the sample, for a warning about costly texts.
    pub(crate) fn checked<'a>(
        text: &str,
        known: &BTreeSet<String>,
        sample: impl Fn(&str) -> Option<&'a str>,
    ) -> Result<(Template, usize), String> {
        if text.trim().is_empty() {
            return Err("empty message".into());
        }
        let t = Template::parse(text, known).map_err(|e| e.to_string())?;
        let rendered = t.render(sample);
        let chars = rendered.chars().count();
        if chars > MAX_TEXT_CHARS {
            return Err(format!(
                "renders to {chars} characters; Nexmo accepts at most {MAX_TEXT_CHARS}"
            ));
        }
        Ok((t, gsm::parts(&rendered)))
    }

    /// Renders with `lookup`; a name it does not know renders empty (cannot
    /// happen for names checked at parse time).
    pub(crate) fn render<'a>(&self, lookup: impl Fn(&str) -> Option<&'a str>) -> String {
        let mut out = String::new();
        for p in &self.pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Var(v) => out.push_str(lookup(v).unwrap_or("")),
            }
        }
        out
    }
}

/// The regex a declared parameter must match, whole: anchored so a
/// pattern like "ios|android" cannot match a substring of a longer,
/// attacker-chosen value.
#[derive(Debug, Clone)]
pub(crate) struct Pattern(Regex);

impl Pattern {
    /// Compiles `pattern`; the error quotes it as written and says what is
    /// wrong in one line.
    pub(crate) fn anchored(pattern: &str) -> Result<Pattern, String> {
        Regex::new(&format!("^(?:{pattern})$"))
            .map(Pattern)
            .map_err(|e| {
                // The regex crate draws the (anchored) pattern over several
                // lines; its last line says what is wrong.
                let why = e.to_string();
                let why = why
                    .lines()
                    .last()
                    .unwrap_or_default()
                    .trim_start_matches("error: ");
                format!("invalid regex {pattern:?}: {why}")
            })
    }

    pub(crate) fn is_match(&self, value: &str) -> bool {
        self.0.is_match(value)
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn renders_placeholders_and_escaped_braces() {
        let t = Template::parse(
            "Hi {number} {{x}} on {platform}",
            &known(&["number", "platform"]),
        )
        .unwrap();
        let out = t.render(|n| match n {
            "number" => Some("+49 176 1"),
            "platform" => Some("ios"),
            _ => None,
        });
        assert_eq!(out, "Hi +49 176 1 {x} on ios");
    }

    #[test]
    fn refuses_undefined_and_malformed_placeholders() {
        let k = known(&["number"]);
        assert_eq!(
            Template::parse("x {nope}", &k),
            Err(TemplateError::Undefined("nope".into()))
        );
        assert_eq!(
            Template::parse("x {number", &k),
            Err(TemplateError::Unclosed(2))
        );
        assert_eq!(
            Template::parse("x }", &k),
            Err(TemplateError::StrayClose(2))
        );
        assert_eq!(
            Template::parse("x {}", &k),
            Err(TemplateError::EmptyName(2))
        );
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    /// A value only an undeclared name has: it must never be rendered.
    const SECRET: &str = "\u{1F512}secret";

    fn declared() -> BTreeSet<String> {
        ["link", "number"].iter().map(|s| s.to_string()).collect()
    }

    proptest! {
        #[test]
        fn any_text_parses_or_is_refused(text in ".{0,80}") {
            let _ = Template::parse(&text, &declared());
        }

        /// Texts made of literal runs, braces and names, declared or not:
        /// whatever parses renders only its text and declared values.
        #[test]
        fn a_rendered_template_never_contains_an_undeclared_value(
            pieces in proptest::collection::vec(
                prop_oneof![
                    "[a-z :/.]{0,6}",
                    Just("{link}".to_string()),
                    Just("{ number }".to_string()),
                    Just("{secret}".to_string()),
                    Just("{{".to_string()),
                    Just("}}".to_string()),
                    Just("{".to_string()),
                    Just("}".to_string()),
                ],
                0..12,
            )
        ) {
            let text: String = pieces.concat();
            if let Ok(t) = Template::parse(&text, &declared()) {
                let lookup = |name: &str| match name {
                    "link" => Some("https://example.com/app"),
                    "number" => Some("+49 176 12345678"),
                    _ => Some(SECRET),
                };
                let out = t.render(lookup);
                prop_assert!(!out.contains(SECRET), "{:?} -> {:?}", text, out);
                // Without its values, only the literal text is left, braces
                // unescaped: never longer than the template.
                prop_assert!(t.render(|_| None).chars().count() <= text.chars().count());
            }
        }
    }
}
