//! Presets: the message shapes of a real voice stack (OpenAI Realtime, a
//! vendor's TTS or STT socket), shipped in the binary as scenario files.
//!
//! A preset is the lowest layer of a scenario's options: the scenario file
//! and then flags replace any of its keys (`voxload presets NAME` prints
//! it, so a user can see what they override). It only holds protocol keys
//! — where requests go and how their messages look — never a workload.

use std::path::Path;

use super::error::{invalid, ConfigError};
use super::file::File;
use super::scenario::{ProtocolOptions, ScenarioOptions};
use crate::protocol::Service;

/// One built-in preset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preset {
    /// Its name, as `--preset` takes it.
    pub name: &'static str,
    /// The command it is for.
    pub service: Service,
    /// One line: what it speaks.
    pub summary: &'static str,
    /// The scenario file, as printed by `voxload presets NAME`.
    pub text: &'static str,
}

/// Every preset, in the order `voxload presets` lists them.
pub const PRESETS: &[Preset] = &[
    Preset {
        name: "openai-realtime",
        service: Service::Agent,
        summary: "OpenAI Realtime API (GA events), PCM 24 kHz, server VAD, truncate on barge-in",
        text: include_str!("../../presets/openai-realtime.toml"),
    },
    Preset {
        name: "openai-realtime-beta",
        service: Service::Agent,
        summary: "OpenAI Realtime beta event names (vLLM-Omni, Kyutai Unmute, older servers)",
        text: include_str!("../../presets/openai-realtime-beta.toml"),
    },
    Preset {
        name: "openai-realtime-webrtc",
        service: Service::Agent,
        summary:
            "OpenAI Realtime over WebRTC: SDP to /v1/realtime/calls, Opus, events on oai-events",
        text: include_str!("../../presets/openai-realtime-webrtc.toml"),
    },
    Preset {
        name: "twilio",
        service: Service::Agent,
        summary: "Twilio Media Streams (voxload plays the phone line): mu-law 8 kHz, marks, clear",
        text: include_str!("../../presets/twilio.toml"),
    },
    Preset {
        name: "vllm-realtime",
        service: Service::Asr,
        summary: "vLLM realtime transcription (transcription.delta/done), PCM 16 kHz base64",
        text: include_str!("../../presets/vllm-realtime.toml"),
    },
    Preset {
        name: "elevenlabs",
        service: Service::Tts,
        summary: "ElevenLabs stream-input over WebSocket: text pieces, base64 audio, isFinal",
        text: include_str!("../../presets/elevenlabs.toml"),
    },
    Preset {
        name: "cartesia",
        service: Service::Tts,
        summary: "Cartesia TTS WebSocket: transcript pieces with continue, base64 chunks, done",
        text: include_str!("../../presets/cartesia.toml"),
    },
    Preset {
        name: "deepgram-speak",
        service: Service::Tts,
        summary: "Deepgram /v1/speak: Speak, Flush, binary audio frames, Flushed",
        text: include_str!("../../presets/deepgram-speak.toml"),
    },
    Preset {
        name: "deepgram-listen",
        service: Service::Asr,
        summary: "Deepgram /v1/listen: binary linear16, is_final segments, Finalize + CloseStream",
        text: include_str!("../../presets/deepgram-listen.toml"),
    },
    Preset {
        name: "assemblyai",
        service: Service::Asr,
        summary: "AssemblyAI Universal-Streaming v3: binary PCM, Turn end_of_turn, Terminate",
        text: include_str!("../../presets/assemblyai.toml"),
    },
    Preset {
        name: "openai-realtime-transcribe",
        service: Service::Asr,
        summary: "OpenAI Realtime transcription session (GA), PCM 24 kHz base64, server VAD",
        text: include_str!("../../presets/openai-realtime-transcribe.toml"),
    },
];

/// The preset called `name`; an error lists the known ones.
pub fn find(name: &str) -> Result<&'static Preset, ConfigError> {
    PRESETS.iter().find(|p| p.name == name).ok_or_else(|| {
        let known: Vec<&str> = PRESETS.iter().map(|p| p.name).collect();
        invalid(
            "--preset",
            format!("no preset '{name}' (known: {})", known.join(", ")),
        )
    })
}

/// `scenario`'s protocol options over its preset's (the preset is the lowest layer).
pub fn expand(scenario: &ScenarioOptions) -> Result<ProtocolOptions, ConfigError> {
    match &scenario.preset {
        Some(name) => {
            let base = find(name)?.options(scenario.protocol.service())?;
            base.overlay(&scenario.protocol)
        }
        None => Ok(scenario.protocol.clone()),
    }
}

impl Preset {
    /// Its protocol options, for a scenario of `service`: a preset for
    /// another command is an error naming the command it is for.
    pub fn options(&self, service: Service) -> Result<ProtocolOptions, ConfigError> {
        if self.service != service {
            return Err(invalid(
                "--preset",
                format!(
                    "'{}' is a {} preset: run it with `voxload {}`, not in a {service} scenario",
                    self.name, self.service, self.service
                ),
            ));
        }
        let path = format!("(preset {})", self.name);
        let file = File {
            path: Path::new(&path),
            text: self.text,
        };
        let options = file.single(Some(self.service))?;
        match options.scenarios.into_iter().next() {
            Some(s) => Ok(s.protocol),
            None => Err(file.error("holds no scenario".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::agent::AgentOptions;
    use crate::config::{CommonOptions, RunOptions, WorkloadOptions};

    #[test]
    fn every_preset_is_a_protocol_only_scenario_of_its_service() {
        for p in PRESETS {
            let path = format!("(preset {})", p.name);
            let file = File {
                path: Path::new(&path),
                text: p.text,
            };
            let o = file.single(Some(p.service)).expect(p.name);
            assert_eq!(
                o.common,
                CommonOptions::default(),
                "{}: no common keys",
                p.name
            );
            assert_eq!(
                o.workload,
                WorkloadOptions::default(),
                "{}: no workload",
                p.name
            );
            let protocol = p.options(p.service).expect(p.name);
            assert_eq!(protocol.service(), p.service, "{}", p.name);
            assert!(
                p.text.contains(&format!("kind = \"{}\"", p.service)),
                "{}: names its kind",
                p.name
            );
        }
    }

    #[test]
    fn an_unknown_preset_or_another_service_is_refused_by_name() {
        let e = find("openai-realtim").expect_err("typo").to_string();
        assert!(
            e.contains("--preset") && e.contains("openai-realtime,"),
            "{e}"
        );
        let p = find("openai-realtime").expect("known");
        let e = p
            .options(Service::Tts)
            .expect_err("agent preset")
            .to_string();
        assert!(e.contains("voxload agent"), "{e}");
    }

    fn read(text: &str, service: Option<Service>) -> Result<RunOptions, String> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.toml");
        std::fs::write(&path, text).expect("write");
        RunOptions::read(&path, service).map_err(|e| e.to_string())
    }

    #[test]
    fn a_preset_is_the_lowest_layer_under_the_file_and_the_flags() {
        let text = "kind = \"agent\"\npreset = \"openai-realtime\"\nurl = \"ws://127.0.0.1:1/v1/realtime\"\nsample_rate = 16000\nend_types = [\"done\"]\n";
        let o = read(text, Some(Service::Agent)).expect("valid");
        assert_eq!(o.scenarios[0].preset.as_deref(), Some("openai-realtime"));
        let flags = ProtocolOptions::Agent(AgentOptions {
            end_types: Some(vec!["flag_done".into()]),
            ..AgentOptions::default()
        });
        let o = o
            .with_flags(
                &CommonOptions::default(),
                &WorkloadOptions::default(),
                Some(&flags),
            )
            .expect("merges");
        let ProtocolOptions::Agent(a) = expand(&o.scenarios[0]).expect("preset") else {
            panic!("agent")
        };
        // The preset's keys, unless the file or a flag sets them.
        assert_eq!(
            a.audio_types,
            Some(vec!["response.output_audio.delta".into()])
        );
        assert_eq!(a.agent_sample_rate, Some(24_000));
        assert_eq!(a.sample_rate, Some(16_000), "the file's");
        assert_eq!(a.end_types, Some(vec!["flag_done".into()]), "the flag's");
        assert_eq!(a.url.as_deref(), Some("ws://127.0.0.1:1/v1/realtime"));
        // --preset replaces the file's preset; a bad name is refused by flag.
        let o = o.with_preset(Some("nope")).expect("set");
        let e = expand(&o.scenarios[0]).expect_err("unknown").to_string();
        assert!(
            e.contains("--preset") && e.contains("no preset 'nope'"),
            "{e}"
        );
        let e = read(
            "kind = \"tts\"\npreset = \"openai-realtime\"\nurl = \"http://x\"\n",
            None,
        )
        .expect("reads");
        let e = expand(&e.scenarios[0])
            .expect_err("agent preset in a tts scenario")
            .to_string();
        assert!(e.contains("voxload agent"), "{e}");
    }
}
