//! NDJSON encoding with gzip as it goes: the body of one intake request.

use std::io::Write;

use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;

use crate::model::{Event, Metadata, MetadataEvent};

/// APM Server's default `max_event_size`: a longer line is rejected by the server, so
/// the agent drops it first (counted as too large).
pub const MAX_EVENT_SIZE: usize = 300 * 1024;

/// Uncompressed bytes between sync flushes of the compressor. Deflate otherwise holds
/// back its output (tens of kilobytes at "best speed"), which would make the request
/// size unknowable and keep bytes from streaming.
const SYNC_FLUSH_EVERY: usize = 64 * 1024;

/// Uncompressed bytes gathered before they go to the compressor: each write into it
/// has a fixed cost (flate2 prepares its whole output buffer every time), which one
/// write per event of a few hundred bytes would pay hundreds of times over.
const WRITE_EVERY: usize = 16 * 1024;

/// Why an event was not encoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The event's JSON is longer than [`MAX_EVENT_SIZE`].
    #[error("event of {0} bytes is larger than APM Server accepts ({MAX_EVENT_SIZE} bytes)")]
    TooLarge(usize),
    /// Serialising or compressing failed.
    #[error("could not encode the event: {0}")]
    Io(#[from] std::io::Error),
}

/// Encodes the body of one intake request: the metadata line, then one line per event,
/// gzip-compressed ("best speed", as the spec recommends) as it is written, or left
/// uncompressed for an APM Server on this host ([`uncompressed`](Self::uncompressed)).
/// The bytes to send are taken out with [`take_output`](Self::take_output) while the
/// request streams.
///
/// ```
/// use elastic_apm_core::{transport::IntakeEncoder, Agent};
///
/// let agent = Agent::disabled();
/// let mut encoder = IntakeEncoder::new(&agent.metadata()).unwrap();
/// let (body, len) = encoder.finish().unwrap();
/// assert_eq!(body.len() as u64, len);
/// assert_eq!(&body[..2], &[0x1f, 0x8b]); // gzip
/// ```
#[derive(Debug)]
pub struct IntakeEncoder {
    /// `None`: uncompressed, the lines are the output.
    gzip: Option<GzEncoder<Vec<u8>>>,
    /// NDJSON lines not yet written to the compressor, or not yet taken out.
    lines: Vec<u8>,
    events: u64,
    taken: u64,
    unflushed: usize,
}

impl IntakeEncoder {
    /// Starts a gzip-compressed body with its metadata line.
    pub fn new(metadata: &Metadata) -> Result<Self, EncodeError> {
        Self::start(
            metadata,
            Some(GzEncoder::new(
                Vec::with_capacity(16 * 1024),
                Compression::fast(),
            )),
        )
    }

    /// Starts an uncompressed body with its metadata line, for an APM Server on this
    /// host: the spec has agents skip compression there, where it costs CPU and saves
    /// nothing worth having. The request goes without `Content-Encoding`.
    pub fn uncompressed(metadata: &Metadata) -> Result<Self, EncodeError> {
        Self::start(metadata, None)
    }

    fn start(metadata: &Metadata, gzip: Option<GzEncoder<Vec<u8>>>) -> Result<Self, EncodeError> {
        let mut encoder = IntakeEncoder {
            gzip,
            lines: Vec::with_capacity(WRITE_EVERY + 4 * 1024),
            events: 0,
            taken: 0,
            unflushed: 0,
        };
        serde_json::to_writer(&mut encoder.lines, &MetadataEvent { metadata })
            .map_err(std::io::Error::from)?;
        encoder.lines.push(b'\n');
        Ok(encoder)
    }

    /// Appends one event. An event too large for APM Server is refused and the body is
    /// unchanged.
    pub fn push(&mut self, event: &Event) -> Result<(), EncodeError> {
        let start = self.lines.len();
        let written =
            crate::model::write_event(&mut self.lines, event).map_err(std::io::Error::from);
        let len = self.lines.len() - start;
        if written.is_err() || len > MAX_EVENT_SIZE {
            self.lines.truncate(start);
            written?;
            return Err(EncodeError::TooLarge(len));
        }
        self.lines.push(b'\n');
        // Counted once in the body: a failure below is the caller's to count.
        self.events += 1;
        if self.gzip.is_none() {
            return Ok(());
        }
        self.unflushed += len + 1;
        if self.lines.len() >= WRITE_EVERY {
            self.write_lines()?;
        }
        if self.unflushed >= SYNC_FLUSH_EVERY {
            self.write_lines()?;
            if let Some(gzip) = &mut self.gzip {
                gzip.flush()?;
            }
            self.unflushed = 0;
        }
        Ok(())
    }

    /// Hands the gathered lines to the compressor.
    fn write_lines(&mut self) -> Result<(), EncodeError> {
        if let Some(gzip) = &mut self.gzip
            && !self.lines.is_empty()
        {
            gzip.write_all(&self.lines)?;
            self.lines.clear();
        }
        Ok(())
    }

    /// Whether the body is gzip-compressed (`Content-Encoding: gzip`).
    pub fn is_compressed(&self) -> bool {
        self.gzip.is_some()
    }

    /// The bytes ready to go out.
    fn output(&mut self) -> &mut Vec<u8> {
        match &mut self.gzip {
            Some(gzip) => gzip.get_mut(),
            None => &mut self.lines,
        }
    }

    /// Events written so far (the metadata line not counted).
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Bytes of the body produced so far (compressed, when it is), taken out or not.
    pub fn compressed_len(&self) -> u64 {
        let ready = match &self.gzip {
            Some(gzip) => gzip.get_ref().len(),
            None => self.lines.len(),
        };
        self.taken + ready as u64
    }

    /// Bytes ready to send, once at least `min` bytes are ready.
    pub fn take_output(&mut self, min: usize) -> Option<Bytes> {
        let ready = self.output();
        if ready.is_empty() || ready.len() < min {
            return None;
        }
        let ready = std::mem::replace(ready, Vec::with_capacity(WRITE_EVERY + 4 * 1024));
        self.taken += ready.len() as u64;
        Some(Bytes::from(ready))
    }

    /// Ends the body (and the gzip stream); returns the bytes not yet taken and the
    /// length of the whole body as sent.
    pub fn finish(mut self) -> Result<(Bytes, u64), EncodeError> {
        self.write_lines()?;
        let rest = match self.gzip.take() {
            Some(gzip) => gzip.finish()?,
            None => std::mem::take(&mut self.lines),
        };
        let total = self.taken + rest.len() as u64;
        Ok((Bytes::from(rest), total))
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;
    use crate::Agent;

    #[test]
    fn a_body_is_gzip_ndjson_with_metadata_first() {
        let metadata = Agent::disabled().metadata();
        let mut encoder = IntakeEncoder::new(&metadata).unwrap();
        let event = Event::Metricset(Box::new(crate::testing::samples::maximal_metricset()));
        encoder.push(&event).unwrap();
        encoder.push(&event).unwrap();
        assert_eq!(encoder.events(), 2);
        let mut wire = encoder
            .take_output(0)
            .map(|b| b.to_vec())
            .unwrap_or_default();
        let (rest, total) = encoder.finish().unwrap();
        wire.extend_from_slice(&rest);
        assert_eq!(wire.len() as u64, total);
        let mut text = String::new();
        flate2::read::GzDecoder::new(&wire[..])
            .read_to_string(&mut text)
            .unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with(r#"{"metadata":"#));
        assert!(lines[1].starts_with(r#"{"metricset":"#));
    }

    #[test]
    fn an_uncompressed_body_is_the_ndjson_itself() {
        let metadata = Agent::disabled().metadata();
        let mut encoder = IntakeEncoder::uncompressed(&metadata).unwrap();
        assert!(!encoder.is_compressed());
        let event = Event::Metricset(Box::new(crate::testing::samples::maximal_metricset()));
        encoder.push(&event).unwrap();
        let mut wire = encoder.take_output(0).unwrap().to_vec();
        encoder.push(&event).unwrap();
        let (rest, total) = encoder.finish().unwrap();
        wire.extend_from_slice(&rest);
        assert_eq!(wire.len() as u64, total);
        let text = String::from_utf8(wire).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with(r#"{"metadata":"#));
        assert!(lines[2].starts_with(r#"{"metricset":"#));
    }
}
