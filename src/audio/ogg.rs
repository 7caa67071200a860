//! Ogg Opus duration without an Opus decoder.
//!
//! symphonia 0.5 cannot decode Opus, but the duration does not need a
//! decoder: per RFC 7845 §4 the granule position of an Ogg Opus page counts
//! 48 kHz samples, and the playable length of a stream is the last page's
//! granule position minus the `pre-skip` declared in the `OpusHead` packet.
//!
//! The scanner walks pages incrementally and keeps only the current page
//! header (≤ 282 bytes) and a few counters, so it never buffers the stream.

use super::AudioError;

/// Opus granule positions always count samples at 48 kHz (RFC 7845 §4).
pub(crate) const OPUS_RATE: u32 = 48_000;

/// Bytes of the OpusHead packet we read: magic, version, channels, pre-skip,
/// input rate, gain, mapping family.
const HEAD_KEEP: usize = 19;
/// Fixed part of an Ogg page header.
const PAGE_HEADER: usize = 27;
/// Granule position −1: "no packet finishes on this page".
const NO_GRANULE: u64 = u64::MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Header,
    Segments { count: usize },
    Body { remaining: usize },
}

/// One logical Opus stream (chained streams follow each other).
#[derive(Debug, Clone, Copy)]
struct OpusStream {
    serial: u32,
    pre_skip: u64,
    channels: u16,
    last_granule: Option<u64>,
}

impl OpusStream {
    fn samples(&self) -> u64 {
        self.last_granule.unwrap_or(0).saturating_sub(self.pre_skip)
    }
}

/// Incremental Ogg page walker that measures Ogg Opus streams.
#[derive(Debug, Clone)]
pub(crate) struct OggOpusScanner {
    part: Part,
    header: [u8; PAGE_HEADER],
    segments: [u8; 255],
    len: usize,
    head: [u8; HEAD_KEEP],
    head_len: usize,
    offset: u64,
    current: Option<OpusStream>,
    /// Samples of chained streams already ended.
    finished_samples: u64,
}

impl OggOpusScanner {
    pub(crate) fn new() -> Self {
        Self {
            part: Part::Header,
            header: [0; PAGE_HEADER],
            segments: [0; 255],
            len: 0,
            head: [0; HEAD_KEEP],
            head_len: 0,
            offset: 0,
            current: None,
            finished_samples: 0,
        }
    }

    /// Feed the next bytes of the stream.
    pub(crate) fn push(&mut self, mut input: &[u8]) -> Result<(), AudioError> {
        while !input.is_empty() {
            let used = self.step(input)?;
            self.offset += used as u64;
            input = &input[used..];
        }
        Ok(())
    }

    /// Consume a non-empty prefix of `input`.
    fn step(&mut self, input: &[u8]) -> Result<usize, AudioError> {
        match self.part {
            Part::Header => {
                let take = (PAGE_HEADER - self.len).min(input.len());
                self.header[self.len..self.len + take].copy_from_slice(&input[..take]);
                self.len += take;
                // Check the capture pattern as soon as it is complete, so
                // garbage fails on the first push rather than at the end.
                if self.len >= 4 && &self.header[..4] != b"OggS" {
                    return Err(undecodable(format!(
                        "no Ogg page at byte {} (lost 'OggS' capture)",
                        self.offset + take as u64 - self.len as u64
                    )));
                }
                if self.len == PAGE_HEADER {
                    if self.header[4] != 0 {
                        return Err(undecodable(format!(
                            "Ogg version {} at byte {}",
                            self.header[4],
                            self.offset + take as u64 - PAGE_HEADER as u64
                        )));
                    }
                    self.len = 0;
                    let count = usize::from(self.header[26]);
                    if count == 0 {
                        self.end_page();
                    } else {
                        self.part = Part::Segments { count };
                    }
                }
                Ok(take)
            }
            Part::Segments { count } => {
                let take = (count - self.len).min(input.len());
                self.segments[self.len..self.len + take].copy_from_slice(&input[..take]);
                self.len += take;
                if self.len == count {
                    let body: usize = self.segments[..count].iter().map(|s| usize::from(*s)).sum();
                    self.len = 0;
                    self.head_len = 0;
                    if body == 0 {
                        self.end_page();
                    } else {
                        self.part = Part::Body { remaining: body };
                    }
                }
                Ok(take)
            }
            Part::Body { remaining } => {
                let take = remaining.min(input.len());
                if self.is_bos() && self.head_len < HEAD_KEEP {
                    let keep = (HEAD_KEEP - self.head_len).min(take);
                    self.head[self.head_len..self.head_len + keep].copy_from_slice(&input[..keep]);
                    self.head_len += keep;
                }
                if take == remaining {
                    self.end_page();
                } else {
                    self.part = Part::Body {
                        remaining: remaining - take,
                    };
                }
                Ok(take)
            }
        }
    }

    fn is_bos(&self) -> bool {
        self.header[5] & 0x02 != 0
    }

    /// A whole page has been read: update the stream bookkeeping.
    fn end_page(&mut self) {
        self.part = Part::Header;
        self.len = 0;
        let h = &self.header;
        let granule = u64::from_le_bytes([h[6], h[7], h[8], h[9], h[10], h[11], h[12], h[13]]);
        let serial = u32::from_le_bytes([h[14], h[15], h[16], h[17]]);
        if self.is_bos() && self.head_len == HEAD_KEEP && &self.head[..8] == b"OpusHead" {
            if let Some(done) = self.current.take() {
                self.finished_samples += done.samples();
            }
            self.current = Some(OpusStream {
                serial,
                pre_skip: u64::from(u16::from_le_bytes([self.head[10], self.head[11]])),
                channels: u16::from(self.head[9]),
                last_granule: None,
            });
        } else if let Some(s) = self.current.as_mut() {
            if s.serial == serial && granule != NO_GRANULE {
                s.last_granule = Some(granule);
            }
        }
        self.head_len = 0;
    }

    /// Playable 48 kHz samples of all complete pages seen, and the channel
    /// count of the last stream. A stream cut mid-page counts up to its last
    /// complete page.
    pub(crate) fn finish(&self) -> Result<(u64, u16), AudioError> {
        let Some(s) = self.current else {
            return Err(undecodable(
                "no OpusHead packet: not an Ogg Opus stream".to_string(),
            ));
        };
        Ok((self.finished_samples + s.samples(), s.channels))
    }
}

fn undecodable(reason: String) -> AudioError {
    AudioError::Undecodable {
        format: "opus",
        reason,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Ogg's CRC-32 (polynomial 0x04C11DB7, not reflected, init 0).
    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0u32;
        for b in data {
            crc ^= u32::from(*b) << 24;
            for _ in 0..8 {
                crc = if crc & 0x8000_0000 != 0 {
                    (crc << 1) ^ 0x04C1_1DB7
                } else {
                    crc << 1
                };
            }
        }
        crc
    }

    /// One Ogg page holding whole `packets`.
    pub(crate) fn page(
        serial: u32,
        seq: u32,
        granule: u64,
        flags: u8,
        packets: &[&[u8]],
    ) -> Vec<u8> {
        let mut lacing = Vec::new();
        for p in packets {
            let mut n = p.len();
            while n >= 255 {
                lacing.push(255u8);
                n -= 255;
            }
            lacing.push(n as u8);
        }
        let mut out = Vec::new();
        out.extend_from_slice(b"OggS");
        out.push(0);
        out.push(flags);
        out.extend_from_slice(&granule.to_le_bytes());
        out.extend_from_slice(&serial.to_le_bytes());
        out.extend_from_slice(&seq.to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        out.push(lacing.len() as u8);
        out.extend_from_slice(&lacing);
        for p in packets {
            out.extend_from_slice(p);
        }
        let crc = crc32(&out);
        out[22..26].copy_from_slice(&crc.to_le_bytes());
        out
    }

    pub(crate) fn opus_head(channels: u8, pre_skip: u16) -> Vec<u8> {
        let mut h = b"OpusHead".to_vec();
        h.push(1);
        h.push(channels);
        h.extend_from_slice(&pre_skip.to_le_bytes());
        h.extend_from_slice(&24_000u32.to_le_bytes());
        h.extend_from_slice(&0u16.to_le_bytes());
        h.push(0);
        h
    }

    /// A minimal Ogg Opus file: head, tags, then audio pages whose last
    /// granule is `granule` (48 kHz samples including `pre_skip`).
    pub(crate) fn ogg_opus(serial: u32, pre_skip: u16, granule: u64) -> Vec<u8> {
        let mut f = page(serial, 0, 0, 0x02, &[&opus_head(1, pre_skip)]);
        f.extend(page(serial, 1, 0, 0, &[b"OpusTags\0\0\0\0\0\0\0\0"]));
        // Two audio pages; the middle one carries an intermediate granule.
        let frame = [0xF8u8; 40]; // opaque packet bytes; never decoded
        f.extend(page(serial, 2, granule / 2, 0, &[&frame, &frame]));
        let f3: &[u8] = &frame;
        f.extend(page(serial, 3, granule, 0x04, &[f3, f3, f3]));
        f
    }

    #[test]
    fn duration_is_last_granule_minus_pre_skip() {
        let f = ogg_opus(7, 312, 48_000 + 312);
        let mut s = OggOpusScanner::new();
        s.push(&f).expect("valid");
        assert_eq!(s.finish(), Ok((48_000, 1)));
    }

    #[test]
    fn split_at_every_byte_gives_the_same_answer() {
        let f = ogg_opus(1, 3840, 96_000 + 3840);
        for cut in 0..f.len() {
            let mut s = OggOpusScanner::new();
            s.push(&f[..cut]).expect("valid");
            s.push(&f[cut..]).expect("valid");
            assert_eq!(s.finish(), Ok((96_000, 1)), "cut at {cut}");
        }
    }

    #[test]
    fn chained_streams_add_up() {
        let mut f = ogg_opus(1, 312, 24_000 + 312);
        f.extend(ogg_opus(2, 100, 48_000 + 100));
        let mut s = OggOpusScanner::new();
        s.push(&f).expect("valid");
        assert_eq!(s.finish(), Ok((72_000, 1)));
    }

    #[test]
    fn truncated_stream_counts_complete_pages() {
        let f = ogg_opus(1, 0, 48_000);
        let mut s = OggOpusScanner::new();
        s.push(&f[..f.len() - 5]).expect("valid so far");
        assert_eq!(s.finish(), Ok((24_000, 1)));
    }

    #[test]
    fn garbage_and_non_opus_fail() {
        let mut s = OggOpusScanner::new();
        assert!(matches!(
            s.push(b"ID3\x04garbage"),
            Err(AudioError::Undecodable { .. })
        ));
        let mut s = OggOpusScanner::new();
        s.push(&page(1, 0, 0, 0x02, &[b"\x01vorbis-ish header"]))
            .expect("an Ogg page");
        assert!(matches!(s.finish(), Err(AudioError::Undecodable { .. })));
    }
}
