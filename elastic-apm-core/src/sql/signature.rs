//! The span name of a SQL statement (`sql_signature_examples.json`).

use super::scanner::{Scanner, Token, TokenKind};
use crate::model::limits::KEYWORD_MAX_CHARS;

/// The span name of the SQL statement `sql`: a low-cardinality signature of it.
///
/// `SELECT FROM t`, `INSERT INTO t`, `REPLACE INTO t`, `UPDATE t`, `DELETE FROM t` and
/// `CALL p`, with `t` the first table (qualified, unquoted) and `p` the procedure; any
/// other statement, or one whose table cannot be found, gives its first word in upper
/// case (`CREATE`, `BEGIN`, `SELECT`). Leading comments and parentheses are skipped;
/// an empty statement gives an empty name.
///
/// Linear in the statement's length; allocates the result only. Never panics.
///
/// ```
/// use elastic_apm_core::sql::signature;
///
/// assert_eq!(signature("SELECT * FROM foo.bar WHERE id = ?"), "SELECT FROM foo.bar");
/// assert_eq!(signature("UPDATE IGNORE \"stock\" SET n = 1"), "UPDATE stock");
/// assert_eq!(signature("ALTER TABLE foo ADD ()"), "ALTER");
/// ```
pub fn signature(sql: &str) -> String {
    let plan = Plan::new(sql);
    let mut len = ByteCount(0);
    plan.render(&mut Limited::new(&mut len));
    let mut out = String::with_capacity(len.0);
    plan.render(&mut Limited::new(&mut out));
    out
}

/// What the signature is made of, found in one pass over the statement; rendered
/// twice, to size the result then to write it.
enum Plan<'a> {
    Empty,
    /// `prefix`, then the name starting with the identifier `first`, continued by
    /// `.identifier`s from `rest`.
    Named {
        prefix: &'static str,
        first: &'a str,
        rest: Scanner<'a>,
    },
    /// The statement's first word.
    Word(Token<'a>),
}

/// Modifiers PostgreSQL and MySQL allow before a table name, skipped unless the
/// name is missing (so a table called `ignore` is still named).
const UPDATE_MODIFIERS: &[&str] = &["ONLY", "IGNORE", "LOW_PRIORITY"];
const FROM_MODIFIERS: &[&str] = &["ONLY"];

impl<'a> Plan<'a> {
    fn new(sql: &'a str) -> Self {
        let mut s = Scanner::new(sql);
        let first = loop {
            match next_significant(&mut s) {
                None => return Self::Empty,
                Some(t) if t.kind == TokenKind::LParen => {}
                Some(t) => break t,
            }
        };
        let named = match first.kind {
            TokenKind::Call => s
                .find(|t| t.kind == TokenKind::Ident)
                .map(|t| ("CALL ", t.text, s.clone())),
            TokenKind::Delete => s
                .find(|t| t.kind == TokenKind::From)
                .and_then(|_| table(&mut s, FROM_MODIFIERS))
                .map(|(first, rest)| ("DELETE FROM ", first, rest)),
            TokenKind::Insert | TokenKind::Replace => s
                .find(|t| t.kind == TokenKind::Into)
                .and_then(|_| table(&mut s, &[]))
                .map(|(name, rest)| {
                    let prefix = if first.kind == TokenKind::Insert {
                        "INSERT INTO "
                    } else {
                        "REPLACE INTO "
                    };
                    (prefix, name, rest)
                }),
            TokenKind::Select => {
                select_table(&mut s).map(|(name, rest)| ("SELECT FROM ", name, rest))
            }
            TokenKind::Update => {
                table(&mut s, UPDATE_MODIFIERS).map(|(name, rest)| ("UPDATE ", name, rest))
            }
            _ => None,
        };
        match named {
            Some((prefix, first, rest)) => Self::Named {
                prefix,
                first,
                rest,
            },
            None => Self::Word(first),
        }
    }

    fn render<S: Sink>(&self, out: &mut Limited<'_, S>) {
        match self {
            Self::Empty => {}
            Self::Named {
                prefix,
                first,
                rest,
            } => {
                out.push_str(prefix);
                out.push_str(first);
                let mut s = rest.clone();
                while !out.is_full() {
                    let mut ahead = s.clone();
                    if !next_significant(&mut ahead).is_some_and(|t| t.kind == TokenKind::Period) {
                        break;
                    }
                    match next_significant(&mut ahead) {
                        Some(t) if t.kind == TokenKind::Ident => {
                            out.push_char('.');
                            out.push_str(t.text);
                            s = ahead;
                        }
                        _ => break,
                    }
                }
            }
            Self::Word(t) if t.kind.is_keyword() => out.push_str(t.kind.as_str()),
            Self::Word(t) if t.kind == TokenKind::Ident => {
                for c in t.text.chars() {
                    if out.is_full() {
                        break;
                    }
                    if c.is_ascii() {
                        out.push_char(c.to_ascii_uppercase());
                    } else {
                        c.to_uppercase().for_each(|u| out.push_char(u));
                    }
                }
            }
            Self::Word(t) => out.push_str(t.text),
        }
    }
}

/// The next token that is not a comment.
fn next_significant<'a>(s: &mut Scanner<'a>) -> Option<Token<'a>> {
    s.find(|t| t.kind != TokenKind::Comment)
}

/// The table named by the next tokens, past any `modifiers`: its first identifier, and
/// the scanner after it.
fn table<'a>(s: &mut Scanner<'a>, modifiers: &[&str]) -> Option<(&'a str, Scanner<'a>)> {
    let mut modifier = None;
    loop {
        match next_significant(s) {
            Some(t) if t.kind == TokenKind::Ident => {
                if !modifiers.iter().any(|m| t.text.eq_ignore_ascii_case(m)) {
                    return Some((t.text, s.clone()));
                }
                modifier = Some((t.text, s.clone()));
            }
            _ => return modifier,
        }
    }
}

/// The table after the outermost `FROM` of a `SELECT` (not a derived table).
fn select_table<'a>(s: &mut Scanner<'a>) -> Option<(&'a str, Scanner<'a>)> {
    let mut depth = 0_isize;
    while let Some(t) = s.next() {
        match t.kind {
            TokenKind::LParen => depth += 1,
            TokenKind::RParen => depth -= 1,
            TokenKind::From if depth == 0 => return table(s, FROM_MODIFIERS),
            _ => {}
        }
    }
    None
}

/// Where a signature is rendered: the result, or a count of its bytes.
trait Sink {
    fn push_str(&mut self, s: &str);
    fn push_char(&mut self, c: char);
}

impl Sink for String {
    fn push_str(&mut self, s: &str) {
        String::push_str(self, s);
    }

    fn push_char(&mut self, c: char) {
        self.push(c);
    }
}

struct ByteCount(usize);

impl Sink for ByteCount {
    fn push_str(&mut self, s: &str) {
        self.0 += s.len();
    }

    fn push_char(&mut self, c: char) {
        self.0 += c.len_utf8();
    }
}

/// A sink taking at most [`KEYWORD_MAX_CHARS`] characters, cutting at a character.
struct Limited<'s, S> {
    sink: &'s mut S,
    chars_left: usize,
}

impl<'s, S: Sink> Limited<'s, S> {
    fn new(sink: &'s mut S) -> Self {
        Self {
            sink,
            chars_left: KEYWORD_MAX_CHARS,
        }
    }

    fn is_full(&self) -> bool {
        self.chars_left == 0
    }

    fn push_str(&mut self, s: &str) {
        // A string of at most `chars_left` bytes has at most that many characters.
        let kept = if s.len() <= self.chars_left {
            s
        } else {
            let cut = s
                .char_indices()
                .nth(self.chars_left)
                .map_or(s.len(), |(i, _)| i);
            s.get(..cut).unwrap_or_default()
        };
        self.chars_left -= kept.chars().count();
        self.sink.push_str(kept);
    }

    fn push_char(&mut self, c: char) {
        if self.chars_left > 0 {
            self.chars_left -= 1;
            self.sink.push_char(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_blank() {
        assert_eq!(signature(""), "");
        assert_eq!(signature(" \n\t "), "");
        assert_eq!(signature("/* only */ -- a comment"), "");
        assert_eq!(signature("((("), "");
    }

    #[test]
    fn statements() {
        for (sql, expected) in [
            ("select * from foo", "SELECT FROM foo"),
            ("/* c */ SELECT * FROM foo", "SELECT FROM foo"),
            (
                "(SELECT a FROM t1) UNION (SELECT a FROM t2)",
                "SELECT FROM t1",
            ),
            ("SELECT * FROM ONLY foo", "SELECT FROM foo"),
            ("SELECT * FROM only", "SELECT FROM only"),
            ("SELECT * FROM only.x", "SELECT FROM only.x"),
            ("SELECT a) FROM foo", "SELECT"),
            ("SELECT * FROM foo. bar", "SELECT FROM foo.bar"),
            ("SELECT * FROM foo..bar", "SELECT FROM foo"),
            ("SELECT * FROM foo.", "SELECT FROM foo"),
            ("SELECT * FROM foo.1", "SELECT FROM foo"),
            ("replace into foo values (1)", "REPLACE INTO foo"),
            ("INSERT OR REPLACE INTO foo VALUES (1)", "INSERT INTO foo"),
            ("UPDATE foo f SET x = 1", "UPDATE foo"),
            ("UPDATE ignore SET x = 1", "UPDATE ignore"),
            ("UPDATE LOW_PRIORITY IGNORE s.t SET x = 1", "UPDATE s.t"),
            ("UPDATE", "UPDATE"),
            ("DELETE FROM ONLY foo", "DELETE FROM foo"),
            ("CALL s.p(1)", "CALL s.p"),
            ("savepoint sp1", "SAVEPOINT"),
            ("straße", "STRASSE"),
            ("$1", "$1"),
            ("'abc' x", "'abc'"),
            ("SELECT * FROM \"a\"\"b\"", "SELECT FROM a\"\"b"),
        ] {
            assert_eq!(signature(sql), expected, "{sql:?}");
        }
    }

    #[test]
    fn unterminated_things() {
        for (sql, expected) in [
            ("SELECT * FROM 'x", "SELECT"),
            ("SELECT * FROM \"x", "SELECT"),
            ("SELECT * FROM [x", "SELECT"),
            ("SELECT * FROM `x", "SELECT"),
            ("SELECT * FROM x /* y", "SELECT FROM x"),
            ("SELECT * FROM x. /* y", "SELECT FROM x"),
            ("/* SELECT * FROM x", ""),
            ("'", ""),
            ("\"", ""),
            ("SELECT $a$ FROM x", "SELECT FROM x"),
        ] {
            assert_eq!(signature(sql), expected, "{sql:?}");
        }
    }

    #[test]
    fn huge_statement() {
        let mut sql = String::from("SELECT ");
        while sql.len() < 1 << 20 {
            sql.push_str("(a + 'b''c' /* d */ ), ");
        }
        sql.push_str("1 FROM \"big\".t WHERE x IN (SELECT y FROM z)");
        assert_eq!(signature(&sql), "SELECT FROM big.t");

        let depth = 500_000;
        let nested = format!("SELECT {}{} FROM t", "(".repeat(depth), ")".repeat(depth));
        assert_eq!(signature(&nested), "SELECT FROM t");
        assert_eq!(signature(&"(".repeat(1 << 20)), "");
        let comments = format!("{}{} CALL p", "/*".repeat(depth), "*/".repeat(depth));
        assert_eq!(signature(&comments), "CALL p");
    }

    #[test]
    fn long_names_are_cut_at_a_character() {
        let long = "é".repeat(3000);
        let sig = signature(&format!("SELECT * FROM \"{long}\""));
        assert_eq!(sig.chars().count(), KEYWORD_MAX_CHARS);
        assert!(sig.starts_with("SELECT FROM ééé"));
        assert_eq!(sig.len(), sig.capacity());

        let parts = vec!["ab"; 2000].join(".");
        let sig = signature(&format!("INSERT INTO {parts} VALUES (1)"));
        assert_eq!(sig.chars().count(), KEYWORD_MAX_CHARS);

        let sig = signature(&"ß".repeat(2000));
        assert_eq!(sig, "S".repeat(KEYWORD_MAX_CHARS));
    }

    #[test]
    fn result_is_sized_exactly() {
        for sql in ["SELECT * FROM foo.bar", "begin", "straße x", "CALL p", ""] {
            let sig = signature(sql);
            assert_eq!(sig.len(), sig.capacity(), "{sql:?}");
        }
    }

    #[test]
    fn random_input_never_panics() {
        let mut rng = fastrand::Rng::with_seed(42);
        let words = [
            "SELECT ", "FROM ", "INSERT ", "INTO ", "UPDATE ", "DELETE ", "CALL ", "REPLACE ", "(",
            ")", ".", ",", "'", "\"", "`", "[", "]", "$", "$$", "$a$", "/*", "*/", "--", "//",
            "\n", " ", "x", "é", "1e", "\\", "ONLY ", "ß",
        ];
        for _ in 0..5_000 {
            let sql: String = if rng.bool() {
                (0..rng.usize(0..24))
                    .map(|_| words[rng.usize(0..words.len())])
                    .collect()
            } else {
                let bytes: Vec<u8> = (0..rng.usize(0..64)).map(|_| rng.u8(..)).collect();
                String::from_utf8_lossy(&bytes).into_owned()
            };
            let sig = signature(&sql);
            assert!(sig.chars().count() <= KEYWORD_MAX_CHARS);
            assert_eq!(sig.len(), sig.capacity(), "{sql:?}");
        }
    }
}
