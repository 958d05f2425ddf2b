//! Trace, span and error identifiers.
//!
//! Ids are random, never all-zero, and written as lower-case hex. They come from
//! [`fastrand`]'s per-thread generator: no lock, no system call after the first use
//! on a thread. They are identifiers, not secrets, so a non-cryptographic generator
//! is what every Elastic agent uses.

use std::fmt;

use serde::{Serialize, Serializer};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Writes `bytes` as lower-case hex into `out`, which must be twice as long.
pub(crate) fn encode_hex(bytes: &[u8], out: &mut [u8]) {
    for (i, b) in bytes.iter().enumerate() {
        out[2 * i] = HEX[usize::from(b >> 4)];
        out[2 * i + 1] = HEX[usize::from(b & 0x0f)];
    }
}

/// Decodes exactly `2 * N` lower-case hex digits; upper case is rejected, as W3C
/// trace context requires.
pub(crate) fn decode_hex<const N: usize>(hex: &[u8]) -> Option<[u8; N]> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    if hex.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (i, pair) in hex.chunks_exact(2).enumerate() {
        out[i] = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $len:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name([u8; $len]);

        impl $name {
            /// A new random id (never all zeros).
            pub fn generate() -> Self {
                let mut bytes = [0u8; $len];
                loop {
                    for chunk in bytes.chunks_mut(8) {
                        let r = fastrand::u64(..).to_le_bytes();
                        chunk.copy_from_slice(&r[..chunk.len()]);
                    }
                    if bytes != [0u8; $len] {
                        return Self(bytes);
                    }
                }
            }

            /// The id with these bytes; `None` for all zeros, which W3C reserves as invalid.
            pub fn from_bytes(bytes: [u8; $len]) -> Option<Self> {
                (bytes != [0u8; $len]).then_some(Self(bytes))
            }

            /// Parses lower-case hex of exactly the right length; all zeros is invalid.
            pub fn from_hex(hex: &str) -> Option<Self> {
                decode_hex::<$len>(hex.as_bytes()).and_then(Self::from_bytes)
            }

            /// The raw bytes.
            pub fn to_bytes(self) -> [u8; $len] {
                self.0
            }

            /// Writes the lower-case hex form into a stack buffer.
            pub fn to_hex(self) -> HexBuf<{ $len * 2 }> {
                let mut buf = [0u8; $len * 2];
                encode_hex(&self.0, &mut buf);
                HexBuf(buf)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.to_hex().as_str())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.to_hex().as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.to_hex().as_str())
            }
        }
    };
}

id_type!(
    /// The 128-bit id of a whole distributed trace.
    TraceId,
    16
);
id_type!(
    /// The 64-bit id of a transaction or span.
    SpanId,
    8
);
id_type!(
    /// The 128-bit id of a captured error.
    ErrorId,
    16
);

/// Lower-case hex of an id, formatted on the stack.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct HexBuf<const N: usize>([u8; N]);

impl<const N: usize> HexBuf<N> {
    /// The hex digits.
    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits are ever written into the buffer.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl<const N: usize> fmt::Debug for HexBuf<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let id = TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap();
        assert_eq!(id.to_string(), "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(
            serde_json::to_string(&id).unwrap(),
            "\"0af7651916cd43dd8448eb211c80319c\""
        );
        let span = SpanId::from_hex("b7ad6b7169203331").unwrap();
        assert_eq!(span.to_hex().as_str(), "b7ad6b7169203331");
    }

    #[test]
    fn rejects_bad_hex() {
        assert!(SpanId::from_hex("B7AD6B7169203331").is_none(), "upper case");
        assert!(SpanId::from_hex("0000000000000000").is_none(), "all zeros");
        assert!(SpanId::from_hex("b7ad6b716920333").is_none(), "short");
        assert!(SpanId::from_hex("b7ad6b71692033311").is_none(), "long");
        assert!(SpanId::from_hex("b7ad6b716920333g").is_none(), "not hex");
    }

    #[test]
    fn generated_ids_are_distinct_and_lower_hex() {
        let a = TraceId::generate();
        let b = TraceId::generate();
        assert_ne!(a, b);
        let hex = a.to_string();
        assert_eq!(hex.len(), 32);
        assert!(
            hex.bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
        );
        assert_eq!(SpanId::generate().to_string().len(), 16);
        assert_eq!(ErrorId::generate().to_string().len(), 32);
    }
}
