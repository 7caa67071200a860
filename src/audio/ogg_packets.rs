//! Ogg Opus as the packets it holds (RFC 7845), so a WebRTC call sends an
//! Ogg Opus turn file as it is: packet for packet, with no decode and
//! re-encode (a second generation of loss, and hundreds of µs a frame).
//!
//! A call's caller stream is one packet per 20 ms slot (`protocol::webrtc`),
//! so every audio packet must be 20 ms: what `opusenc` and ffmpeg write by
//! default. A file with other frame sizes is refused with a hint, not
//! resampled in time. Only the first logical stream is read, and only
//! channel mapping family 0 (mono or stereo: one RTP stream carries it).

use std::io::Cursor;
use std::time::Duration;

use bytes::Bytes;

use super::opus::{packet_samples, FRAME, FRAME_SAMPLES, OPUS_RATE};
use super::track::{MediaPacket, PacketTrack};

/// Why an Ogg Opus file cannot go out packet for packet.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OggOpusError {
    /// The container is broken (capture pattern, checksum, truncation).
    #[error("not a readable Ogg stream: {0}")]
    Ogg(String),
    /// The first packet is not an `OpusHead`.
    #[error("no OpusHead packet: not Ogg Opus")]
    NoHead,
    /// Channel mapping families other than 0 need several streams.
    #[error("Opus channel mapping family {0} (surround) does not fit one RTP stream")]
    Family(u8),
    /// A packet whose TOC byte does not say how long it plays.
    #[error("audio packet {index} is not an Opus packet (no valid TOC byte)")]
    BadPacket {
        /// From 0, among the audio packets.
        index: usize,
    },
    /// A packet of another length than the call's 20 ms slots.
    #[error(
        "audio packet {index} plays {ms} ms, but a WebRTC call sends 20 ms packets: \
         re-encode with 20 ms frames (opusenc --framesize 20, ffmpeg -frame_duration 20) \
         or give a WAV"
    )]
    FrameLength {
        /// From 0, among the audio packets.
        index: usize,
        /// What it plays.
        ms: f64,
    },
    /// A header and no audio.
    #[error("no audio packets")]
    Empty,
}

/// The audio packets of an Ogg Opus file, each 20 ms, and the playing time
/// its last granule position gives (less the pre-skip, RFC 7845 §4).
pub fn read_ogg_opus(bytes: &[u8]) -> Result<PacketTrack, OggOpusError> {
    let mut reader = ::ogg::PacketReader::new(Cursor::new(bytes));
    let mut serial = None;
    let mut pre_skip = 0u64;
    let mut tags = false;
    let mut granule = 0u64;
    let mut packets = Vec::new();
    while let Some(p) = reader
        .read_packet()
        .map_err(|e| OggOpusError::Ogg(e.to_string()))?
    {
        match serial {
            None => {
                let head = &p.data;
                if head.len() < 19 || &head[..8] != b"OpusHead" {
                    return Err(OggOpusError::NoHead);
                }
                if head[18] != 0 {
                    return Err(OggOpusError::Family(head[18]));
                }
                pre_skip = u64::from(u16::from_le_bytes([head[10], head[11]]));
                serial = Some(p.stream_serial());
            }
            // A chained or multiplexed stream: not this one.
            Some(s) if s != p.stream_serial() => {}
            // The comment header (OpusTags).
            Some(_) if !tags => tags = true,
            Some(_) => {
                let index = packets.len();
                let samples =
                    packet_samples(&p.data).map_err(|_| OggOpusError::BadPacket { index })?;
                if samples != FRAME_SAMPLES {
                    let ms = samples as f64 * 1e3 / f64::from(OPUS_RATE);
                    return Err(OggOpusError::FrameLength { index, ms });
                }
                granule = p.absgp_page();
                packets.push(MediaPacket {
                    data: Bytes::from(p.data),
                    duration: FRAME,
                });
            }
        }
    }
    if serial.is_none() {
        return Err(OggOpusError::NoHead);
    }
    if packets.is_empty() {
        return Err(OggOpusError::Empty);
    }
    let coded = packets.len() as u64 * u64::from(OPUS_RATE / 50);
    let samples = granule.min(coded).saturating_sub(pre_skip);
    Ok(PacketTrack {
        packets,
        audio: Duration::from_nanos(samples * 1_000_000_000 / u64::from(OPUS_RATE)),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::ogg::tests::opus_head;
    use super::*;
    use ::ogg::{PacketWriteEndInfo, PacketWriter};

    /// An Ogg Opus file of `packets`, as opusenc lays it out: the head and
    /// the tags on pages of their own, then the audio with granule
    /// positions in 48 kHz samples, the last one `pre_skip + samples`.
    pub(crate) fn ogg_file(packets: &[Vec<u8>], pre_skip: u16, samples: u64) -> Vec<u8> {
        ogg_file_headed(opus_head(1, pre_skip), packets, pre_skip, samples)
    }

    /// [`ogg_file`] with `head` as its first packet.
    fn ogg_file_headed(head: Vec<u8>, packets: &[Vec<u8>], pre_skip: u16, samples: u64) -> Vec<u8> {
        let mut w = PacketWriter::new(Vec::new());
        let serial = 7;
        w.write_packet(head, serial, PacketWriteEndInfo::EndPage, 0)
            .unwrap();
        let tags = b"OpusTags\x07\0\0\0voxload\0\0\0\0".to_vec();
        w.write_packet(tags, serial, PacketWriteEndInfo::EndPage, 0)
            .unwrap();
        for (i, p) in packets.iter().enumerate() {
            let last = i + 1 == packets.len();
            let (end, gp) = if last {
                (PacketWriteEndInfo::EndStream, u64::from(pre_skip) + samples)
            } else {
                (PacketWriteEndInfo::NormalPacket, (i as u64 + 1) * 960)
            };
            w.write_packet(p.clone(), serial, end, gp).unwrap();
        }
        w.into_inner()
    }

    #[test]
    fn toc_bytes_say_how_long_a_packet_plays() {
        // The TOC reading is `opus::packet_samples`, shared with the decoder.
        let ms = |p: &[u8]| packet_samples(p).ok().map(|n| n as f64 * 1e3 / 48_000.0);
        // CELT 20 ms (config 31), one frame; SILK 60 ms (config 3); two
        // 10 ms hybrid frames (config 12, code 1); code 3 with 3 frames of
        // 2.5 ms (config 16).
        assert_eq!(ms(&[31 << 3]), Some(20.0));
        assert_eq!(ms(&[3 << 3]), Some(60.0));
        assert_eq!(ms(&[(12 << 3) | 1]), Some(20.0));
        assert_eq!(ms(&[(16 << 3) | 3, 3]), Some(7.5));
        assert_eq!(ms(&[(16 << 3) | 3]), None);
        assert_eq!(ms(&[]), None);
    }

    #[test]
    fn a_file_of_20ms_packets_reads_back_as_they_were_written() {
        let packets: Vec<Vec<u8>> = (0..5u8).map(|i| vec![31 << 3, i, i, i]).collect();
        let file = ogg_file(&packets, 312, 4 * 960 + 100);
        let track = read_ogg_opus(&file).unwrap();
        let got: Vec<&[u8]> = track.packets.iter().map(|p| &p.data[..]).collect();
        let want: Vec<&[u8]> = packets.iter().map(Vec::as_slice).collect();
        assert_eq!(got, want);
        // The last granule, less the pre-skip: 4 packets and 100 samples.
        assert_eq!(
            track.audio,
            Duration::from_nanos((4 * 960 + 100) * 1_000_000_000 / 48_000)
        );
    }

    #[test]
    fn what_a_call_cannot_send_is_refused_with_its_reason() {
        let sixty = ogg_file(&[vec![31 << 3], vec![3 << 3]], 312, 960);
        assert_eq!(
            read_ogg_opus(&sixty),
            Err(OggOpusError::FrameLength { index: 1, ms: 60.0 })
        );
        assert!(read_ogg_opus(&sixty)
            .unwrap_err()
            .to_string()
            .contains("opusenc --framesize 20"));
        let empty = ogg_file(&[], 312, 0);
        assert_eq!(read_ogg_opus(&empty), Err(OggOpusError::Empty));
        assert!(matches!(
            read_ogg_opus(b"RIFF....WAVE"),
            Err(OggOpusError::Ogg(_))
        ));
        let mut broken = ogg_file(&[vec![31 << 3]], 0, 960);
        // "OpusHead" → "OpusHeaX" in place: the page checksum fails.
        let at = broken.windows(8).position(|w| w == b"OpusHead").unwrap();
        broken[at + 7] = b'X';
        assert!(matches!(read_ogg_opus(&broken), Err(OggOpusError::Ogg(_))));
        // A sound Ogg stream of something else (Vorbis, say).
        let vorbis = ogg_file_headed(b"\x01vorbis\0\0\0\0\x01".to_vec(), &[vec![1]], 0, 960);
        assert_eq!(read_ogg_opus(&vorbis), Err(OggOpusError::NoHead));
        // Surround (mapping family 1).
        let mut head = opus_head(1, 312);
        head[18] = 1;
        let surround = ogg_file_headed(head, &[vec![31 << 3]], 312, 960);
        assert_eq!(read_ogg_opus(&surround), Err(OggOpusError::Family(1)));
        // A code-3 packet without its frame count: no length to read.
        let bad = ogg_file(&[vec![31 << 3], vec![(16 << 3) | 3]], 312, 960);
        assert_eq!(
            read_ogg_opus(&bad),
            Err(OggOpusError::BadPacket { index: 1 })
        );
    }
}
