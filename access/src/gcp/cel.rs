//! The subset of CEL (Common Expression Language) GCP documents use where EKM meets them:
//! workload-identity attribute mappings and attribute conditions (over `assertion`, `google`,
//! `attribute`) and IAM Conditions on bindings (over `resource`). Supported: field access
//! (`assertion.sub`, `assertion['custom:claim']`), string/bool/integer literals, lists, `==`,
//! `!=`, `in`, `&&`, `||`, `!`, parentheses, and the string methods `startsWith`, `endsWith`,
//! `contains`. Anything else (`request.time`, `timestamp()`, `+`, macros) is refused when the
//! document is read, naming what is unsupported — the lab never guesses what an expression means.
//!
//! Evaluation follows CEL's rules for errors: a missing field is an error, `&&`/`||` absorb an
//! error when the other side decides, and an expression that ends in an error or a non-boolean
//! grants nothing.

use serde_json::Value;

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    node: Node,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Path(String, Vec<String>),
    Literal(Value),
    List(Vec<Node>),
    Compare(Box<Node>, Box<Node>, bool),
    In(Box<Node>, Box<Node>),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Not(Box<Node>),
    Method(Box<Node>, Method, Box<Node>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    StartsWith,
    EndsWith,
    Contains,
}

/// The longest expression GCP accepts for an attribute condition.
pub const MAX_EXPRESSION_CHARS: usize = 4096;

impl Expr {
    /// Parses `text`, allowing only the variables in `roots`.
    pub fn parse(text: &str, roots: &[&str]) -> Result<Expr, String> {
        if text.chars().count() > MAX_EXPRESSION_CHARS {
            return Err(format!("longer than {MAX_EXPRESSION_CHARS} characters"));
        }
        let tokens = lex(text)?;
        let mut parser = Parser {
            tokens,
            pos: 0,
            roots,
        };
        let node = parser.or()?;
        match parser.tokens.get(parser.pos) {
            None => Ok(Expr { node }),
            Some(t) => Err(format!("unexpected `{}`", t.text())),
        }
    }

    /// Evaluates against `vars` (root name → JSON value).
    pub fn evaluate(&self, vars: &[(&str, &Value)]) -> Result<Value, String> {
        eval(&self.node, vars)
    }

    /// Evaluates and requires a boolean: `Ok(false)` for false, `Err` for an error or a
    /// non-boolean result.
    pub fn holds(&self, vars: &[(&str, &Value)]) -> Result<bool, String> {
        match self.evaluate(vars)? {
            Value::Bool(b) => Ok(b),
            other => Err(format!("the condition is {other}, not a boolean")),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Str(String),
    Int(i64),
    Sym(&'static str),
}

impl Token {
    fn text(&self) -> String {
        match self {
            Token::Ident(s) => s.clone(),
            Token::Str(s) => format!("'{s}'"),
            Token::Int(i) => i.to_string(),
            Token::Sym(s) => (*s).to_owned(),
        }
    }
}

const SYMBOLS: &[&str] = &["==", "!=", "&&", "||", "!", "(", ")", "[", "]", ".", ","];

fn lex(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '\'' || c == '"' {
            let mut s = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err("unterminated string".into()),
                    Some('\\') => {
                        let escaped = chars.get(i + 1).ok_or("unterminated string")?;
                        s.push(*escaped);
                        i += 2;
                    }
                    Some(&q) if q == c => break,
                    Some(&other) => {
                        s.push(other);
                        i += 1;
                    }
                }
            }
            i += 1;
            tokens.push(Token::Str(s));
        } else if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            let digits: String = chars[start..i].iter().collect();
            tokens.push(Token::Int(
                digits
                    .parse()
                    .map_err(|_| format!("number `{digits}` out of range"))?,
            ));
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push(Token::Ident(chars[start..i].iter().collect()));
        } else {
            let rest: String = chars[i..chars.len().min(i + 2)].iter().collect();
            let sym = SYMBOLS
                .iter()
                .find(|s| rest.starts_with(**s))
                .ok_or_else(|| format!("`{c}` is not supported by the lab's CEL subset"))?;
            i += sym.chars().count();
            tokens.push(Token::Sym(sym));
        }
    }
    Ok(tokens)
}

struct Parser<'a> {
    tokens: Vec<Token>,
    pos: usize,
    roots: &'a [&'a str],
}

impl Parser<'_> {
    fn peek_sym(&self, sym: &str) -> bool {
        matches!(self.tokens.get(self.pos), Some(Token::Sym(s)) if *s == sym)
    }

    fn eat_sym(&mut self, sym: &str) -> bool {
        let hit = self.peek_sym(sym);
        if hit {
            self.pos += 1;
        }
        hit
    }

    fn expect(&mut self, sym: &str) -> Result<(), String> {
        if self.eat_sym(sym) {
            Ok(())
        } else {
            Err(format!("expected `{sym}`"))
        }
    }

    fn next(&mut self) -> Result<Token, String> {
        let token = self
            .tokens
            .get(self.pos)
            .cloned()
            .ok_or("unexpected end of expression")?;
        self.pos += 1;
        Ok(token)
    }

    fn or(&mut self) -> Result<Node, String> {
        let mut left = self.and()?;
        while self.eat_sym("||") {
            left = Node::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Node, String> {
        let mut left = self.not()?;
        while self.eat_sym("&&") {
            left = Node::And(Box::new(left), Box::new(self.not()?));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Node, String> {
        if self.eat_sym("!") {
            return Ok(Node::Not(Box::new(self.not()?)));
        }
        self.relation()
    }

    fn relation(&mut self) -> Result<Node, String> {
        let left = self.member()?;
        if self.eat_sym("==") {
            return Ok(Node::Compare(
                Box::new(left),
                Box::new(self.member()?),
                true,
            ));
        }
        if self.eat_sym("!=") {
            return Ok(Node::Compare(
                Box::new(left),
                Box::new(self.member()?),
                false,
            ));
        }
        if matches!(self.tokens.get(self.pos), Some(Token::Ident(w)) if w == "in") {
            self.pos += 1;
            return Ok(Node::In(Box::new(left), Box::new(self.member()?)));
        }
        Ok(left)
    }

    fn member(&mut self) -> Result<Node, String> {
        let mut node = self.primary()?;
        loop {
            if self.eat_sym(".") {
                let Token::Ident(name) = self.next()? else {
                    return Err("expected a field name after `.`".into());
                };
                if self.eat_sym("(") {
                    let method = match name.as_str() {
                        "startsWith" => Method::StartsWith,
                        "endsWith" => Method::EndsWith,
                        "contains" => Method::Contains,
                        other => {
                            return Err(format!(
                                "the function `{other}` is not supported by the lab's CEL subset"
                            ));
                        }
                    };
                    let arg = self.or()?;
                    self.expect(")")?;
                    node = Node::Method(Box::new(node), method, Box::new(arg));
                } else {
                    node = extend(node, name)?;
                }
            } else if self.eat_sym("[") {
                let Token::Str(name) = self.next()? else {
                    return Err("only string indexes (`x['key']`) are supported".into());
                };
                self.expect("]")?;
                node = extend(node, name)?;
            } else {
                return Ok(node);
            }
        }
    }

    fn primary(&mut self) -> Result<Node, String> {
        match self.next()? {
            Token::Str(s) => Ok(Node::Literal(Value::String(s))),
            Token::Int(i) => Ok(Node::Literal(Value::from(i))),
            Token::Ident(w) if w == "true" || w == "false" => {
                Ok(Node::Literal(Value::Bool(w == "true")))
            }
            Token::Ident(w) if self.roots.contains(&w.as_str()) => Ok(Node::Path(w, Vec::new())),
            Token::Ident(w) if self.peek_sym("(") => Err(format!(
                "the function `{w}` is not supported by the lab's CEL subset"
            )),
            Token::Ident(w) => Err(format!(
                "unknown variable `{w}`; here the lab knows: {}",
                self.roots.join(", ")
            )),
            Token::Sym("(") => {
                let inner = self.or()?;
                self.expect(")")?;
                Ok(inner)
            }
            Token::Sym("[") => {
                let mut items = Vec::new();
                if !self.eat_sym("]") {
                    loop {
                        items.push(self.or()?);
                        if self.eat_sym("]") {
                            break;
                        }
                        self.expect(",")?;
                    }
                }
                Ok(Node::List(items))
            }
            Token::Sym(s) => Err(format!("unexpected `{s}`")),
        }
    }
}

fn extend(node: Node, field: String) -> Result<Node, String> {
    match node {
        Node::Path(root, mut fields) => {
            fields.push(field);
            Ok(Node::Path(root, fields))
        }
        _ => Err(format!(
            "field access `.{field}` is only supported on variables"
        )),
    }
}

fn eval(node: &Node, vars: &[(&str, &Value)]) -> Result<Value, String> {
    Ok(match node {
        Node::Literal(v) => v.clone(),
        Node::List(items) => Value::Array(
            items
                .iter()
                .map(|i| eval(i, vars))
                .collect::<Result<_, _>>()?,
        ),
        Node::Path(root, fields) => {
            let mut value = *vars
                .iter()
                .find(|(name, _)| name == root)
                .map(|(_, v)| v)
                .ok_or_else(|| format!("`{root}` is not available here"))?;
            let mut shown = root.clone();
            for field in fields {
                shown = format!("{shown}.{field}");
                value = value
                    .get(field)
                    .ok_or_else(|| format!("no such key: {shown}"))?;
            }
            value.clone()
        }
        Node::Compare(a, b, equal) => Value::Bool((eval(a, vars)? == eval(b, vars)?) == *equal),
        Node::In(item, list) => {
            let (item, list) = (eval(item, vars)?, eval(list, vars)?);
            match list {
                Value::Array(items) => Value::Bool(items.contains(&item)),
                other => return Err(format!("`in` needs a list, got {other}")),
            }
        }
        Node::Not(inner) => Value::Bool(!boolean(eval(inner, vars)?)?),
        Node::And(a, b) => logical(eval(a, vars), eval(b, vars), false)?,
        Node::Or(a, b) => logical(eval(a, vars), eval(b, vars), true)?,
        Node::Method(target, method, arg) => {
            let (Value::String(s), Value::String(x)) = (eval(target, vars)?, eval(arg, vars)?)
            else {
                return Err("string methods need string arguments".into());
            };
            Value::Bool(match method {
                Method::StartsWith => s.starts_with(&x),
                Method::EndsWith => s.ends_with(&x),
                Method::Contains => s.contains(&x),
            })
        }
    })
}

fn boolean(value: Value) -> Result<bool, String> {
    value
        .as_bool()
        .ok_or_else(|| format!("{value} is not a boolean"))
}

/// CEL's commutative `&&` / `||`: the deciding value (`false` for and, `true` for or) wins over
/// an error on the other side.
fn logical(
    a: Result<Value, String>,
    b: Result<Value, String>,
    decider: bool,
) -> Result<Value, String> {
    let (a, b) = (a.and_then(boolean), b.and_then(boolean));
    if a == Ok(decider) || b == Ok(decider) {
        return Ok(Value::Bool(decider));
    }
    a?;
    b?;
    Ok(Value::Bool(!decider))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ROOTS: &[&str] = &["assertion", "google", "attribute"];

    fn run(text: &str) -> Result<bool, String> {
        let assertion = json!({"sub": "repo:acme/app:ref:refs/heads/main", "aud": "ekm", "groups": ["ekm"], "custom:tier": "gold"});
        let attribute = json!({"project": "proj_demo"});
        Expr::parse(text, ROOTS)?.holds(&[("assertion", &assertion), ("attribute", &attribute)])
    }

    #[test]
    fn the_supported_subset_evaluates() {
        let table = [
            ("assertion.aud == 'ekm'", true),
            ("assertion.aud != 'ekm'", false),
            (
                "attribute.project == \"proj_demo\" && assertion.sub.startsWith('repo:acme/')",
                true,
            ),
            (
                "assertion.sub.endsWith(':ref:refs/heads/dev') || assertion['custom:tier'] == 'gold'",
                true,
            ),
            ("'ekm' in assertion.groups", true),
            ("!('admin' in assertion.groups)", true),
            ("assertion.aud in ['a', 'b']", false),
            ("assertion.sub.contains('acme') && (true || false)", true),
            // a missing claim is an error, absorbed by a deciding other side
            ("assertion.missing == 'x' || assertion.aud == 'ekm'", true),
            (
                "assertion.missing == 'x' && assertion.aud == 'other'",
                false,
            ),
        ];
        for (text, want) in table {
            assert_eq!(run(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn errors_and_non_booleans_grant_nothing() {
        assert!(
            run("assertion.missing == 'x'")
                .unwrap_err()
                .contains("no such key: assertion.missing")
        );
        assert!(run("assertion.aud").unwrap_err().contains("not a boolean"));
        assert!(run("assertion.missing == 'x' && assertion.aud == 'ekm'").is_err());
    }

    #[test]
    fn what_is_outside_the_subset_is_refused_when_read() {
        let table = [
            ("request.time == 'x'", "unknown variable `request`"),
            ("assertion.exp < 5", "`<` is not supported"),
            (
                "timestamp('2026-01-01T00:00:00Z') == assertion.iat",
                "function `timestamp`",
            ),
            ("size(assertion.groups) == 1", "function `size`"),
            ("assertion.sub.matches('x')", "function `matches`"),
            ("assertion.a + 'x' == 'y'", "`+` is not supported"),
            ("assertion.aud == 'unterminated", "unterminated"),
            ("assertion.aud == ", "unexpected end"),
            ("assertion.aud == 'a' 'b'", "unexpected `'b'`"),
        ];
        for (text, why) in table {
            let err = Expr::parse(text, ROOTS).unwrap_err();
            assert!(err.contains(why), "{text}: {err}");
        }
        assert!(
            Expr::parse(&"a".repeat(MAX_EXPRESSION_CHARS + 1), ROOTS)
                .unwrap_err()
                .contains("longer than")
        );
    }
}
