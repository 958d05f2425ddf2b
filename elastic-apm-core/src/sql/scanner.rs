//! The SQL tokenizer of `sql_token_examples.json`.

use std::fmt;
use std::iter::FusedIterator;

/// What a [`Token`] is. Keywords that matter to [`signature`](super::signature) have a
/// kind each, matched ignoring ASCII case; other keywords are [`TokenKind::Ident`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenKind {
    /// Anything else: an operator, `*`, `?`, a `$1` placeholder, an unterminated
    /// dollar-quoted string up to the next whitespace.
    Other,
    /// A `-- ...` or `// ...` line comment (without its newline), or a `/* ... */`
    /// block comment, which may nest.
    Comment,
    /// An identifier or a keyword without a kind of its own. Quoted identifiers
    /// (`` `a` ``, `"a"`, `[a]`) have the text between the quotes, doubled quotes kept.
    Ident,
    /// A numeric literal: `123`, `1.5`, `1e-3`.
    Number,
    /// A string literal with its quotes (`'it''s'`, `'it\'s'`), or a PostgreSQL
    /// dollar-quoted string (`$$...$$`, `$tag$...$tag$`).
    String,
    /// `.`
    Period,
    /// `,`
    Comma,
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// The keyword `AS`.
    As,
    /// The keyword `CALL`.
    Call,
    /// The keyword `DELETE`.
    Delete,
    /// The keyword `FROM`.
    From,
    /// The keyword `INSERT`.
    Insert,
    /// The keyword `INTO`.
    Into,
    /// The keyword `OR`.
    Or,
    /// The keyword `REPLACE`.
    Replace,
    /// The keyword `SELECT`.
    Select,
    /// The keyword `SET`.
    Set,
    /// The keyword `TABLE`.
    Table,
    /// The keyword `TRUNCATE` (CQL).
    Truncate,
    /// The keyword `UPDATE`.
    Update,
}

const KEYWORDS: [TokenKind; 13] = [
    TokenKind::As,
    TokenKind::Call,
    TokenKind::Delete,
    TokenKind::From,
    TokenKind::Insert,
    TokenKind::Into,
    TokenKind::Or,
    TokenKind::Replace,
    TokenKind::Select,
    TokenKind::Set,
    TokenKind::Table,
    TokenKind::Truncate,
    TokenKind::Update,
];

impl TokenKind {
    /// The kind's name in the spec's test cases: `"IDENT"`, `"LPAREN"`, `"SELECT"`...
    /// For a keyword, that is the keyword in upper case.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::Other => "OTHER",
            Self::Comment => "COMMENT",
            Self::Ident => "IDENT",
            Self::Number => "NUMBER",
            Self::String => "STRING",
            Self::Period => "PERIOD",
            Self::Comma => "COMMA",
            Self::LParen => "LPAREN",
            Self::RParen => "RPAREN",
            Self::As => "AS",
            Self::Call => "CALL",
            Self::Delete => "DELETE",
            Self::From => "FROM",
            Self::Insert => "INSERT",
            Self::Into => "INTO",
            Self::Or => "OR",
            Self::Replace => "REPLACE",
            Self::Select => "SELECT",
            Self::Set => "SET",
            Self::Table => "TABLE",
            Self::Truncate => "TRUNCATE",
            Self::Update => "UPDATE",
        }
    }

    /// Whether this is a keyword's kind (`SELECT`, `FROM`...).
    pub const fn is_keyword(&self) -> bool {
        matches!(
            self,
            Self::As
                | Self::Call
                | Self::Delete
                | Self::From
                | Self::Insert
                | Self::Into
                | Self::Or
                | Self::Replace
                | Self::Select
                | Self::Set
                | Self::Table
                | Self::Truncate
                | Self::Update
        )
    }

    /// The keyword `word` is, ignoring ASCII case.
    fn keyword(word: &str) -> Option<Self> {
        if !(2..=8).contains(&word.len()) {
            return None;
        }
        KEYWORDS
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(word))
    }
}

impl fmt::Display for TokenKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One token: its kind and its text, borrowed from the statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Token<'a> {
    /// What the token is.
    pub kind: TokenKind,
    /// The token as written; for a quoted identifier, the text between the quotes.
    pub text: &'a str,
}

/// The tokens of a SQL statement, whitespace skipped, comments included.
///
/// Never allocates, runs in linear time and never panics. An unterminated string
/// literal, quoted identifier or block comment ends the tokens: what follows it is not
/// SQL this scanner can make sense of.
#[derive(Debug, Clone)]
pub struct Scanner<'a> {
    input: &'a str,
    pos: usize,
    /// Bytes left to spend on searches for the end of a dollar-quoted string that turn
    /// out to fail: each costs the rest of the input, so without a bound, many
    /// unterminated `$tag$`s would take quadratic time. When spent, a `$tag$` whose
    /// search would exceed it is taken as unterminated without searching.
    search_budget: usize,
}

impl<'a> Scanner<'a> {
    /// A scanner of `sql`, at its start.
    pub fn new(sql: &'a str) -> Self {
        Self {
            input: sql,
            pos: 0,
            search_budget: sql.len().saturating_mul(2),
        }
    }

    fn scan(&mut self) -> Option<Token<'a>> {
        let input = self.input;
        let rest = input.get(self.pos..)?;
        let start = input.len() - rest.trim_start().len();
        let c = input.get(start..)?.chars().next()?;
        let next = start + c.len_utf8();
        let peek = input.as_bytes().get(next).copied();
        match c {
            '\'' => self.string_literal(start, next),
            '"' => self.quoted_identifier(start, next, b'"'),
            '`' => self.quoted_identifier(start, next, b'`'),
            '[' => self.quoted_identifier(start, next, b']'),
            '(' => self.emit(TokenKind::LParen, start, next, next),
            ')' => self.emit(TokenKind::RParen, start, next, next),
            '.' => self.emit(TokenKind::Period, start, next, next),
            ',' => self.emit(TokenKind::Comma, start, next, next),
            '-' if peek == Some(b'-') => self.line_comment(start),
            '/' if peek == Some(b'/') => self.line_comment(start),
            '/' if peek == Some(b'*') => self.block_comment(start, next + 1),
            '$' => self.dollar(start, next),
            '0'..='9' => self.number(start, next),
            c if c == '_' || c.is_alphabetic() => self.word(start, next, c != '_'),
            _ => self.emit(TokenKind::Other, start, next, next),
        }
    }

    /// The token `input[text_start..text_end]`, the scan resuming at `end`.
    fn emit(
        &mut self,
        kind: TokenKind,
        text_start: usize,
        text_end: usize,
        end: usize,
    ) -> Option<Token<'a>> {
        let text = self.input.get(text_start..text_end)?;
        self.pos = end;
        Some(Token { kind, text })
    }

    /// `'...'`, with `''` and `\'` escapes; `i` is past the opening quote.
    fn string_literal(&mut self, start: usize, mut i: usize) -> Option<Token<'a>> {
        let bytes = self.input.as_bytes();
        loop {
            match *bytes.get(i)? {
                b'\\' => i += 2,
                b'\'' if bytes.get(i + 1) == Some(&b'\'') => i += 2,
                b'\'' => return self.emit(TokenKind::String, start, i + 1, i + 1),
                _ => i += 1,
            }
        }
    }

    /// An identifier quoted up to `close`, doubled to escape it; `i` is past the
    /// opening quote.
    fn quoted_identifier(&mut self, start: usize, mut i: usize, close: u8) -> Option<Token<'a>> {
        let bytes = self.input.as_bytes();
        loop {
            let at = i + bytes.get(i..)?.iter().position(|&b| b == close)?;
            if bytes.get(at + 1) == Some(&close) {
                i = at + 2;
            } else {
                return self.emit(TokenKind::Ident, start + 1, at, at + 1);
            }
        }
    }

    /// `--` or `//` up to the end of the line.
    fn line_comment(&mut self, start: usize) -> Option<Token<'a>> {
        let bytes = self.input.as_bytes();
        let end = bytes
            .get(start..)?
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |at| start + at);
        self.emit(TokenKind::Comment, start, end, end)
    }

    /// `/* ... */`, nesting; `i` is past the opening `/*`.
    fn block_comment(&mut self, start: usize, mut i: usize) -> Option<Token<'a>> {
        let bytes = self.input.as_bytes();
        let mut depth = 1_usize;
        loop {
            match (*bytes.get(i)?, bytes.get(i + 1)) {
                (b'/', Some(b'*')) => {
                    depth += 1;
                    i += 2;
                }
                (b'*', Some(b'/')) => {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        return self.emit(TokenKind::Comment, start, i, i);
                    }
                }
                _ => i += 1,
            }
        }
    }

    /// Digits with at most one `.` and one exponent; `i` is past the first digit.
    fn number(&mut self, start: usize, mut i: usize) -> Option<Token<'a>> {
        let bytes = self.input.as_bytes();
        let (mut period, mut exponent) = (false, false);
        loop {
            match bytes.get(i) {
                Some(b'0'..=b'9') => i += 1,
                Some(b'.') if !period => {
                    period = true;
                    i += 1;
                }
                Some(b'e' | b'E') if !exponent => {
                    exponent = true;
                    i += 1;
                    if matches!(bytes.get(i), Some(b'+' | b'-')) {
                        i += 1;
                    }
                }
                _ => return self.emit(TokenKind::Number, start, i, i),
            }
        }
    }

    /// An identifier or keyword; `i` is past its first character. Only words of
    /// letters can be keywords.
    fn word(&mut self, start: usize, i: usize, mut maybe_keyword: bool) -> Option<Token<'a>> {
        let end = self.identifier_end(i, &mut maybe_keyword)?;
        let text = self.input.get(start..end)?;
        let kind = if maybe_keyword {
            TokenKind::keyword(text).unwrap_or(TokenKind::Ident)
        } else {
            TokenKind::Ident
        };
        self.emit(kind, start, end, end)
    }

    /// Where the identifier characters (letters, digits, `_`, `$`) from `i` end;
    /// `only_letters` is cleared if any is not a letter.
    fn identifier_end(&self, i: usize, only_letters: &mut bool) -> Option<usize> {
        let mut end = i;
        for c in self.input.get(i..)?.chars() {
            match c {
                c if c.is_alphabetic() => {}
                c if c.is_alphanumeric() || c == '_' || c == '$' => *only_letters = false,
                _ => break,
            }
            end += c.len_utf8();
        }
        Some(end)
    }

    /// After a `$` (`i` past it): a `$1` placeholder, a dollar-quoted string, or other.
    fn dollar(&mut self, start: usize, i: usize) -> Option<Token<'a>> {
        let bytes = self.input.as_bytes();
        match bytes.get(i) {
            Some(b'0'..=b'9') => {
                let digits = bytes.get(i..)?.iter().take_while(|b| b.is_ascii_digit());
                let end = i + digits.count();
                self.emit(TokenKind::Other, start, end, end)
            }
            Some(b'$') => self.dollar_quoted(start, i + 1),
            _ => {
                let c = self.input.get(i..)?.chars().next();
                if !c.is_some_and(|c| c == '_' || c.is_alphabetic()) {
                    return self.emit(TokenKind::Other, start, i, i);
                }
                // A tag: letters, digits and `_` (no `$`).
                let mut end = i;
                for c in self.input.get(i..)?.chars() {
                    if !(c.is_alphanumeric() || c == '_') {
                        break;
                    }
                    end += c.len_utf8();
                }
                if bytes.get(end) == Some(&b'$') {
                    self.dollar_quoted(start, end + 1)
                } else {
                    self.up_to_whitespace(start, end)
                }
            }
        }
    }

    /// A string opened by the tag `input[start..body]` (`$$` or `$tag$`), closed by the
    /// same tag. Unterminated, the tag is [`TokenKind::Other`] up to the next whitespace.
    fn dollar_quoted(&mut self, start: usize, body: usize) -> Option<Token<'a>> {
        let tag = self.input.get(start..body)?;
        let rest = self.input.get(body..)?;
        if rest.len() <= self.search_budget {
            if let Some(at) = rest.find(tag) {
                let end = body + at + tag.len();
                return self.emit(TokenKind::String, start, end, end);
            }
            self.search_budget -= rest.len();
        }
        self.up_to_whitespace(start, body)
    }

    /// [`TokenKind::Other`] from `start` to the first whitespace at or after `i`.
    fn up_to_whitespace(&mut self, start: usize, i: usize) -> Option<Token<'a>> {
        let rest = self.input.get(i..)?;
        let end = rest
            .char_indices()
            .find(|(_, c)| c.is_whitespace())
            .map_or(self.input.len(), |(at, _)| i + at);
        self.emit(TokenKind::Other, start, end, end)
    }
}

impl<'a> Iterator for Scanner<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        let token = self.scan();
        if token.is_none() {
            self.pos = self.input.len();
        }
        token
    }
}

impl FusedIterator for Scanner<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(sql: &str) -> Vec<(&'static str, &str)> {
        Scanner::new(sql)
            .map(|t| (t.kind.as_str(), t.text))
            .collect()
    }

    #[test]
    fn empty_and_whitespace() {
        assert!(tokens("").is_empty());
        assert!(tokens(" \t\r\n\u{a0}\u{3000}").is_empty());
    }

    #[test]
    fn keywords_ignore_case_and_need_letters_only() {
        assert_eq!(
            tokens("select FrOm _select select1 select$ sélect"),
            [
                ("SELECT", "select"),
                ("FROM", "FrOm"),
                ("IDENT", "_select"),
                ("IDENT", "select1"),
                ("IDENT", "select$"),
                ("IDENT", "sélect"),
            ]
        );
        for kind in KEYWORDS {
            assert!(kind.is_keyword());
            assert_eq!(tokens(kind.as_str()), [(kind.as_str(), kind.as_str())]);
        }
        assert!(!TokenKind::Ident.is_keyword());
        assert_eq!(TokenKind::LParen.to_string(), "LPAREN");
    }

    #[test]
    fn punctuation_and_operators() {
        assert_eq!(
            tokens("a,b*-1/2 - - / ?"),
            [
                ("IDENT", "a"),
                ("COMMA", ","),
                ("IDENT", "b"),
                ("OTHER", "*"),
                ("OTHER", "-"),
                ("NUMBER", "1"),
                ("OTHER", "/"),
                ("NUMBER", "2"),
                ("OTHER", "-"),
                ("OTHER", "-"),
                ("OTHER", "/"),
                ("OTHER", "?"),
            ]
        );
        assert_eq!(tokens("€"), [("OTHER", "€")]);
    }

    #[test]
    fn unterminated_things_end_the_tokens() {
        for sql in [
            "a 'abc",
            "a 'abc\\'",
            "a 'abc\\",
            "a \"abc",
            "a \"abc\"\"",
            "a `abc",
            "a [abc",
            "a /* abc",
            "a /* /* */",
            "a /*",
            "a /*/",
        ] {
            assert_eq!(tokens(sql), [("IDENT", "a")], "{sql:?}");
        }
        let mut scanner = Scanner::new("'x");
        assert_eq!(scanner.next(), None);
        assert_eq!(scanner.next(), None);
    }

    #[test]
    fn terminated_edge_cases() {
        assert_eq!(tokens("\"\""), [("IDENT", "")]);
        assert_eq!(tokens("[a]]b]"), [("IDENT", "a]]b")]);
        assert_eq!(tokens("``"), [("IDENT", "")]);
        assert_eq!(tokens("'é\\é'"), [("STRING", "'é\\é'")]);
        assert_eq!(tokens("/**/"), [("COMMENT", "/**/")]);
        assert_eq!(tokens("-- a\nb"), [("COMMENT", "-- a"), ("IDENT", "b")]);
        assert_eq!(tokens("--"), [("COMMENT", "--")]);
        assert_eq!(
            tokens("1. 1e 1e5.5 .5"),
            [
                ("NUMBER", "1."),
                ("NUMBER", "1e"),
                ("NUMBER", "1e5.5"),
                ("PERIOD", "."),
                ("NUMBER", "5")
            ]
        );
    }

    #[test]
    fn dollar_forms() {
        assert_eq!(tokens("$"), [("OTHER", "$")]);
        assert_eq!(
            tokens("$ $("),
            [("OTHER", "$"), ("OTHER", "$"), ("LPAREN", "(")]
        );
        assert_eq!(tokens("$$"), [("OTHER", "$$")]);
        assert_eq!(tokens("$1$2"), [("OTHER", "$1"), ("OTHER", "$2")]);
        assert_eq!(tokens("$é$x$é$ y"), [("STRING", "$é$x$é$"), ("IDENT", "y")]);
        assert_eq!(tokens("$a)b c"), [("OTHER", "$a)b"), ("IDENT", "c")]);
    }

    #[test]
    fn deep_nesting() {
        let depth = 100_000;
        let sql = format!("{}{} x", "/*".repeat(depth), "*/".repeat(depth));
        let t = tokens(&sql);
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].0, "COMMENT");
        assert_eq!(t[1], ("IDENT", "x"));
        assert_eq!(tokens(&"(".repeat(depth)).len(), depth);
    }

    #[test]
    fn many_unterminated_dollar_quotes_stay_linear() {
        // Each `$tN$` is unmatched: unbounded, the searches would be quadratic.
        let sql: String = (0..100_000).map(|i| format!("$t{i}$ ")).collect();
        let start = std::time::Instant::now();
        assert_eq!(Scanner::new(&sql).count(), 100_000);
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
        // Dollar quotes after a failed search still work within the budget.
        assert_eq!(tokens("$a$ $$x$$"), [("OTHER", "$a$"), ("STRING", "$$x$$")]);
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = fastrand::Rng::with_seed(7);
        let alphabet = b"'\"`[]()$/*-\\.,e1a_ \n\xc3\xa9\xff";
        for _ in 0..2_000 {
            let len = rng.usize(0..64);
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    if rng.bool() {
                        alphabet[rng.usize(0..alphabet.len())]
                    } else {
                        rng.u8(..)
                    }
                })
                .collect();
            let sql = String::from_utf8_lossy(&bytes);
            let mut end = 0;
            for token in Scanner::new(&sql) {
                // Tokens come in order, from the input.
                let offset = token.text.as_ptr() as usize - sql.as_ptr() as usize;
                assert!(offset >= end, "{sql:?}");
                end = offset + token.text.len();
                assert!(end <= sql.len());
            }
        }
    }
}
