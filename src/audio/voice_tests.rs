use super::*;

const TEXT: &str = "Hello, World! 42 tests: don't-stop; \"ok\"?";

fn to_f32(pcm: &[i16]) -> Vec<f32> {
    pcm.iter().map(|&s| f32::from(s) / 32_768.0).collect()
}

/// Naive linear-interpolation resampling, as a careless client would do.
fn resample(x: &[f32], from: u32, to: u32) -> Vec<f32> {
    let n = (x.len() as u64 * u64::from(to) / u64::from(from)) as usize;
    (0..n)
        .map(|j| {
            let pos = j as f64 * f64::from(from) / f64::from(to);
            let i = pos.floor() as usize;
            let frac = (pos - i as f64) as f32;
            let a = x[i];
            let b = x.get(i + 1).copied().unwrap_or(a);
            a + (b - a) * frac
        })
        .collect()
}

#[test]
fn frequencies_are_distinct_and_in_range() {
    let f: Vec<f64> = (0..COUNT as u8).map(freq_hz).collect();
    assert_eq!(f[0], 300.0);
    assert_eq!(f[COUNT - 1], 3_800.0);
    assert!(f.windows(2).all(|w| w[1] - w[0] >= 75.0), "{f:?}");
    assert_eq!(symbol_of('A'), symbol_of('a'));
    assert_eq!(symbol_of('é'), UNKNOWN);
    assert_eq!(symbol_of('\n'), UNKNOWN);
    // The recurrence-built waves match `cos` to the last bit (±1 LSB).
    let voice = Voice::new(48_000, 1.0);
    for s in [0u8, 20, UNKNOWN] {
        let w = 2.0 * std::f64::consts::PI * freq_hz(s) / 48_000.0;
        let wave = &voice.waves[usize::from(s)];
        for i in (0..voice.wave_len).step_by(997) {
            let got = i16::from_le_bytes([wave[2 * i], wave[2 * i + 1]]);
            let want = (0.5 * f64::from(i16::MAX) * (w * i as f64).cos()) as i16;
            assert!(
                (got - want).abs() <= 1,
                "symbol {s} sample {i}: {got} vs {want}"
            );
        }
    }
}

#[test]
fn round_trip_at_24k() {
    let voice = Voice::new(24_000, 15.0);
    let pcm = voice.render(TEXT);
    assert_eq!(pcm.len(), (41.0f64 * 24_000.0 / 15.0).round() as usize);
    let peak = pcm.iter().map(|s| s.unsigned_abs()).max().unwrap();
    assert!((16_000..=16_384).contains(&peak), "amplitude 0.5: {peak}");
    assert_eq!(
        decode_text(&to_f32(&pcm), 24_000, 15.0),
        TEXT.to_lowercase()
    );
    assert_eq!(
        decode_text(&to_f32(&voice.render("Ünïcode")), 24_000, 15.0),
        "*n*code"
    );
}

#[test]
fn round_trip_after_naive_resampling_to_16k() {
    for cps in [15.0, 40.0] {
        let voice = Voice::new(24_000, cps);
        let pcm = to_f32(&voice.render(TEXT));
        let at16 = resample(&pcm, 24_000, 16_000);
        assert_eq!(
            decode_text(&at16, 16_000, cps),
            TEXT.to_lowercase(),
            "{cps}"
        );
    }
    // And from 22.05 kHz, a rate with no simple ratio to 16 kHz.
    let voice = Voice::new(22_050, 15.0);
    let at16 = resample(&to_f32(&voice.render(TEXT)), 22_050, 16_000);
    assert_eq!(decode_text(&at16, 16_000, 15.0), TEXT.to_lowercase());
}

#[test]
fn leading_and_trailing_silence_and_pauses_are_skipped() {
    let voice = Voice::new(16_000, 15.0);
    let mut audio = vec![0.0f32; 3_333];
    audio.extend(to_f32(&voice.render("first part")));
    audio.extend(vec![0.0f32; 4_000]);
    audio.extend(to_f32(&voice.render(" and more")));
    audio.extend(vec![0.0f32; 10_000]);
    assert_eq!(decode_text(&audio, 16_000, 15.0), "first part and more");
    assert_eq!(decode_text(&[0.0; 5_000], 16_000, 15.0), "");
    assert_eq!(decode_text(&[], 16_000, 15.0), "");
}

#[test]
fn long_text_decodes_exactly_and_incrementally() {
    let text: String = (0..300)
        .map(|i| char::from(SYMBOLS[(i * 7 + i / 13) % SYMBOLS.len()]))
        .collect();
    let voice = Voice::new(24_000, 15.0);
    let pcm = to_f32(&voice.render(&text));
    assert_eq!(pcm.len(), 480_000);
    assert_eq!(decode_text(&pcm, 24_000, 15.0), text);
    // Fed in 20 ms pieces, the text grows monotonically to the same result.
    let mut d = Decoder::new(24_000, 15.0);
    let mut last = 0;
    for piece in pcm.chunks(480) {
        d.push(piece.iter().copied());
        assert!(d.text().len() >= last);
        last = d.text().len();
    }
    assert_eq!(d.text(), text);
}

#[test]
fn spans_match_the_whole_render_with_silence_and_tempo() {
    let voice = Voice::new(24_000, 15.0);
    let syms = symbols("abc xyz");
    for tempo in [1.0, 0.25, 2.0] {
        let total = 1_000 + boundary(syms.len(), 24_000, 15.0, tempo);
        let mut whole = BytesMut::new();
        voice.render_span(&syms, tempo, 1_000, 0..total, &mut whole);
        assert_eq!(whole.len(), total * 2);
        assert!(whole[..2_000].iter().all(|b| *b == 0));
        assert_ne!(&whole[2_000..2_002], &[0, 0]);
        let mut pieces = BytesMut::new();
        for a in (0..total).step_by(777) {
            voice.render_span(&syms, tempo, 1_000, a..(a + 777).min(total), &mut pieces);
        }
        assert_eq!(whole, pieces, "tempo {tempo}");
    }
    // Segments longer than one second wrap the one-second wave seamlessly.
    let slow = Voice::new(8_000, 0.5);
    assert_eq!(slow.wave_len, 8_000);
    let pcm = to_f32(&slow.render("ok"));
    assert_eq!(pcm.len(), 32_000);
    assert_eq!(decode_text(&pcm, 8_000, 0.5), "ok");
}
