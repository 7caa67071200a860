//! RIFF/WAVE headers: writing (mock, corpus) and incremental parsing (streams).

use super::AudioError;

/// A canonical 44-byte PCM WAV header. `data_len: None` writes the
/// "unknown length" marker (0xFFFF_FFFF) that streaming servers use.
pub fn header(sample_rate: u32, channels: u16, bits: u16, data_len: Option<u32>) -> [u8; 44] {
    let block_align = channels * (bits / 8);
    let byte_rate = sample_rate * u32::from(block_align);
    let data = data_len.unwrap_or(u32::MAX);
    let riff = data_len.map(|d| d.saturating_add(36)).unwrap_or(u32::MAX);
    let mut h = [0u8; 44];
    h[0..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&riff.to_le_bytes());
    h[8..12].copy_from_slice(b"WAVE");
    h[12..16].copy_from_slice(b"fmt ");
    h[16..20].copy_from_slice(&16u32.to_le_bytes());
    h[20..22].copy_from_slice(&1u16.to_le_bytes());
    h[22..24].copy_from_slice(&channels.to_le_bytes());
    h[24..28].copy_from_slice(&sample_rate.to_le_bytes());
    h[28..32].copy_from_slice(&byte_rate.to_le_bytes());
    h[32..34].copy_from_slice(&block_align.to_le_bytes());
    h[34..36].copy_from_slice(&bits.to_le_bytes());
    h[36..40].copy_from_slice(b"data");
    h[40..44].copy_from_slice(&data.to_le_bytes());
    h
}

/// How one sample is stored in linear PCM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleEncoding {
    /// Unsigned 8-bit (WAV's only 8-bit form).
    U8,
    /// Signed 16-bit little-endian: the usual TTS output.
    I16,
    /// Signed 24-bit little-endian, packed in 3 bytes.
    I24,
    /// Signed 32-bit little-endian.
    I32,
    /// IEEE float 32-bit little-endian.
    F32,
    /// IEEE float 64-bit little-endian.
    F64,
}

impl SampleEncoding {
    /// Bytes per sample (one channel).
    pub fn bytes(self) -> usize {
        match self {
            SampleEncoding::U8 => 1,
            SampleEncoding::I16 => 2,
            SampleEncoding::I24 => 3,
            SampleEncoding::I32 | SampleEncoding::F32 => 4,
            SampleEncoding::F64 => 8,
        }
    }

    /// The sample in `b` (exactly [`Self::bytes`] long) as a fraction of full
    /// scale, so silence detection needs one threshold for every encoding.
    /// A slice of the wrong length reads as 0 (silent) rather than panicking.
    pub fn normalize(self, b: &[u8]) -> f32 {
        match (self, b) {
            (SampleEncoding::U8, [x]) => (f32::from(*x) - 128.0) / 128.0,
            (SampleEncoding::I16, [x, y]) => f32::from(i16::from_le_bytes([*x, *y])) / 32_768.0,
            (SampleEncoding::I24, [x, y, z]) => {
                // Place the 24 bits at the top of an i32 so the sign extends.
                (i32::from_le_bytes([0, *x, *y, *z]) >> 8) as f32 / 8_388_608.0
            }
            (SampleEncoding::I32, [a, b, c, d]) => {
                i32::from_le_bytes([*a, *b, *c, *d]) as f32 / 2_147_483_648.0
            }
            (SampleEncoding::F32, [a, b, c, d]) => f32::from_le_bytes([*a, *b, *c, *d]),
            (SampleEncoding::F64, [a, b, c, d, e, f, g, h]) => {
                f64::from_le_bytes([*a, *b, *c, *d, *e, *f, *g, *h]) as f32
            }
            _ => 0.0,
        }
    }
}

/// The layout of linear PCM audio, from a WAV `fmt ` chunk or given up front.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PcmSpec {
    /// Frames per second.
    pub sample_rate: u32,
    /// Interleaved channels per frame.
    pub channels: u16,
    /// Storage of each sample.
    pub encoding: SampleEncoding,
}

impl PcmSpec {
    /// Bytes per frame (all channels): the unit durations are counted in.
    pub fn frame_bytes(&self) -> u64 {
        u64::from(self.channels) * self.encoding.bytes() as u64
    }
}

/// What one [`WavParser::advance`] call consumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WavStep {
    /// Header or non-audio chunk bytes (RIFF, chunk headers, LIST, padding…).
    Header,
    /// The `fmt ` chunk was completed; audio layout is now known.
    Spec(PcmSpec),
    /// This many bytes of audio sample data (the `data` chunk body).
    Data(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Collecting `RIFF <size> WAVE` (12 bytes).
    Riff,
    /// A `RIFF <size>` chunk header appeared mid-stream (concatenated files):
    /// collecting the 4-byte `WAVE` tag.
    WaveTag,
    /// Collecting an 8-byte chunk header.
    ChunkHeader,
    /// Collecting the first bytes of a `fmt ` body of this size.
    Fmt { size: u32 },
    /// Skipping bytes of a chunk we do not need.
    Skip { remaining: u64 },
    /// Inside `data`; `None` = unknown length (streaming), runs to the end.
    Data { remaining: Option<u64>, pad: bool },
}

/// Incremental RIFF/WAVE parser: fed arbitrary slices of a stream, it tells
/// header bytes from sample bytes without buffering anything but the current
/// chunk header (≤ 40 bytes), so a header split anywhere across transport
/// reads parses the same as a whole one.
///
/// Handles extra chunks (LIST, fact, …) before or after `data`, odd chunk
/// padding, `WAVE_FORMAT_EXTENSIBLE`, RF64's magic, data sizes of 0 or
/// 0xFFFF_FFFF (unknown: the rest of the stream is audio, as streaming TTS
/// servers write before they know the length), and WAV files concatenated
/// back to back when their data sizes are known.
#[derive(Debug, Clone)]
pub struct WavParser {
    state: State,
    buf: [u8; FMT_KEEP],
    len: usize,
    spec: Option<PcmSpec>,
}

/// `fmt ` bytes needed for WAVE_FORMAT_EXTENSIBLE (through the SubFormat GUID).
const FMT_KEEP: usize = 40;
const TAG_PCM: u16 = 1;
const TAG_FLOAT: u16 = 3;
const TAG_EXTENSIBLE: u16 = 0xFFFE;

impl Default for WavParser {
    fn default() -> Self {
        Self::new()
    }
}

impl WavParser {
    /// A parser expecting `RIFF` next.
    pub fn new() -> Self {
        Self {
            state: State::Riff,
            buf: [0; FMT_KEEP],
            len: 0,
            spec: None,
        }
    }

    /// Expect a fresh `RIFF` header next (a message that carries its own
    /// header). The last known layout is kept until a new `fmt ` replaces it.
    pub fn restart(&mut self) {
        self.state = State::Riff;
        self.len = 0;
    }

    /// Bytes the current `data` chunk declared but that have not arrived.
    /// `Some` only for a known, unfinished data size: the stream was cut.
    pub fn missing_data(&self) -> Option<u64> {
        match self.state {
            State::Data {
                remaining: Some(left),
                ..
            } if left > 0 => Some(left),
            _ => None,
        }
    }

    /// The layout from the last `fmt ` chunk, once seen.
    pub fn spec(&self) -> Option<PcmSpec> {
        self.spec
    }

    /// Consume a prefix of `input` (at least one byte if `input` is not
    /// empty) and say what it was. Call repeatedly until `input` is used up.
    pub fn advance(&mut self, input: &[u8]) -> Result<(usize, WavStep), AudioError> {
        match self.state {
            State::Riff => {
                let used = self.fill(input, 12);
                if self.len == 12 {
                    if !matches!(&self.buf[0..4], b"RIFF" | b"RF64") || &self.buf[8..12] != b"WAVE"
                    {
                        return Err(bad(format!(
                            "expected 'RIFF....WAVE', got {:?}",
                            String::from_utf8_lossy(&self.buf[..12])
                        )));
                    }
                    self.next_chunk();
                }
                Ok((used, WavStep::Header))
            }
            State::WaveTag => {
                let used = self.fill(input, 4);
                if self.len == 4 {
                    if &self.buf[0..4] != b"WAVE" {
                        return Err(bad("a RIFF chunk inside the stream is not WAVE".into()));
                    }
                    self.next_chunk();
                }
                Ok((used, WavStep::Header))
            }
            State::ChunkHeader => {
                let used = self.fill(input, 8);
                if self.len == 8 {
                    self.start_chunk()?;
                }
                Ok((used, WavStep::Header))
            }
            State::Fmt { size } => {
                let keep = (size as usize).min(FMT_KEEP);
                let used = self.fill(input, keep);
                if self.len < keep {
                    return Ok((used, WavStep::Header));
                }
                let spec = parse_fmt(&self.buf[..keep])?;
                self.spec = Some(spec);
                let rest = u64::from(size) - keep as u64 + u64::from(size & 1);
                if rest > 0 {
                    self.state = State::Skip { remaining: rest };
                } else {
                    self.next_chunk();
                }
                Ok((used, WavStep::Spec(spec)))
            }
            State::Skip { remaining } => {
                let n = remaining.min(input.len() as u64);
                if n == remaining {
                    self.next_chunk();
                } else {
                    self.state = State::Skip {
                        remaining: remaining - n,
                    };
                }
                Ok((n as usize, WavStep::Header))
            }
            State::Data { remaining, pad } => {
                let Some(left) = remaining else {
                    return Ok((input.len(), WavStep::Data(input.len())));
                };
                let n = left.min(input.len() as u64);
                if n == left {
                    if pad {
                        self.state = State::Skip { remaining: 1 };
                    } else {
                        self.next_chunk();
                    }
                } else {
                    self.state = State::Data {
                        remaining: Some(left - n),
                        pad,
                    };
                }
                Ok((n as usize, WavStep::Data(n as usize)))
            }
        }
    }

    /// Copy bytes into `buf` until it holds `need`; returns bytes taken.
    fn fill(&mut self, input: &[u8], need: usize) -> usize {
        let take = need.saturating_sub(self.len).min(input.len());
        self.buf[self.len..self.len + take].copy_from_slice(&input[..take]);
        self.len += take;
        take
    }

    fn next_chunk(&mut self) {
        self.state = State::ChunkHeader;
        self.len = 0;
    }

    /// Act on a complete 8-byte chunk header in `buf`.
    fn start_chunk(&mut self) -> Result<(), AudioError> {
        let size = u32::from_le_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]]);
        let id = [self.buf[0], self.buf[1], self.buf[2], self.buf[3]];
        self.len = 0;
        self.state = match &id {
            b"fmt " => {
                if size < 16 {
                    return Err(bad(format!("fmt chunk of {size} bytes (need 16)")));
                }
                State::Fmt { size }
            }
            b"data" => {
                if self.spec.is_none() {
                    return Err(bad("data chunk before fmt chunk".into()));
                }
                let remaining = (size != 0 && size != u32::MAX).then_some(u64::from(size));
                State::Data {
                    remaining,
                    pad: size & 1 == 1,
                }
            }
            b"RIFF" | b"RF64" => State::WaveTag,
            _ => State::Skip {
                remaining: u64::from(size) + u64::from(size & 1),
            },
        };
        if let State::Skip { remaining: 0 } = self.state {
            self.next_chunk();
        }
        Ok(())
    }
}

fn bad(reason: String) -> AudioError {
    AudioError::BadHeader {
        format: "wav",
        reason,
    }
}

/// Read the layout from the first (16..=40) bytes of a `fmt ` body.
fn parse_fmt(b: &[u8]) -> Result<PcmSpec, AudioError> {
    let u16_at = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
    // Callers guarantee at least 16 bytes (start_chunk rejects smaller fmt chunks).
    if b.len() < 16 {
        return Err(bad(format!("fmt chunk of {} bytes (need 16)", b.len())));
    }
    let mut tag = u16_at(0);
    let channels = u16_at(2);
    let sample_rate = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
    let bits = u16_at(14);
    if tag == TAG_EXTENSIBLE {
        if b.len() < FMT_KEEP {
            return Err(bad(
                "WAVE_FORMAT_EXTENSIBLE fmt chunk shorter than 40 bytes".into(),
            ));
        }
        // The SubFormat GUID starts with the real format tag.
        tag = u16_at(24);
    }
    let encoding = match (tag, bits) {
        (TAG_PCM, 8) => SampleEncoding::U8,
        (TAG_PCM, 16) => SampleEncoding::I16,
        (TAG_PCM, 24) => SampleEncoding::I24,
        (TAG_PCM, 32) => SampleEncoding::I32,
        (TAG_FLOAT, 32) => SampleEncoding::F32,
        (TAG_FLOAT, 64) => SampleEncoding::F64,
        _ => {
            return Err(bad(format!(
                "unsupported encoding: format tag {tag:#06x} with {bits} bits (supported: PCM 8/16/24/32, float 32/64)"
            )))
        }
    };
    if channels == 0 || sample_rate == 0 {
        return Err(bad(format!("{channels} channels at {sample_rate} Hz")));
    }
    Ok(PcmSpec {
        sample_rate,
        channels,
        encoding,
    })
}
