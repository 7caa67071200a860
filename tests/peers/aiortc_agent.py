"""A WebRTC voice agent built on aiortc, a WebRTC stack no one here wrote,
for tests/agent_aiortc.rs.

It answers WHIP offers (POST /offer, application/sdp -> 201 + Location;
DELETE /session/N hangs up) and, per call, plays a known WAV (48 kHz mono
16-bit) DELAY_MS after the first caller RTP packet arrived, with 20 ms
frames of digital silence before and after it, as a bot's track would.
GET /truth returns what it did, on time.monotonic() (CLOCK_MONOTONIC):
the first caller RTP packet's arrival, the instant the first reply frame
was handed to aiortc's encoder, reply frames, the negotiated codec, how
many frames that codec's encoder holds back, and whether the call was
DELETEd.

Loopback only: aioice leaves 127.0.0.1 out of its host candidates, so the
gathering is patched to offer 127.0.0.1 alone, and no STUN server is used.
Bounded: it exits when its standard input closes (the test dropped it) or
after LIFE_S, whichever is first.

    python aiortc_agent.py REPLY.wav DELAY_MS
prints "LISTENING <port>" once it accepts connections.
"""

import asyncio
import fractions
import json
import sys
import time
import wave

import aioice.ice
import av
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.codecs import get_encoder
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtcrtpreceiver import RTCRtpReceiver

LIFE_S = 60
RATE = 48_000
FRAME = 960  # samples per 20 ms

aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]

calls = {}
next_id = [1]


class Call:
    def __init__(self, pc):
        self.pc = pc
        self.first_rtp = None
        self.first_reply = None
        self.reply_frames = 0
        self.codec = None
        self.encoder_lag_frames = None
        self.deleted = False

    def truth(self):
        return {
            "first_rtp": self.first_rtp,
            "first_reply": self.first_reply,
            "reply_frames": self.reply_frames,
            "codec": self.codec,
            "encoder_lag_frames": self.encoder_lag_frames,
            "deleted": self.deleted,
        }


# Stamp the first caller RTP packet as it arrives, before aiortc's jitter
# buffer holds it back.
_handle_rtp = RTCRtpReceiver._handle_rtp_packet


async def _stamped(self, packet, arrival_time_ms):
    call = getattr(self, "_voxload_call", None)
    if call is not None and call.first_rtp is None:
        call.first_rtp = time.monotonic()
    return await _handle_rtp(self, packet, arrival_time_ms)


RTCRtpReceiver._handle_rtp_packet = _stamped


class Reply(MediaStreamTrack):
    """Silence, then the WAV from first caller packet + delay, then silence,
    in 20 ms frames on absolute deadlines from the track's first frame."""

    kind = "audio"

    def __init__(self, call, pcm, delay_s):
        super().__init__()
        self.call, self.pcm, self.delay_s = call, pcm, delay_s
        self.k = 0
        self.t0 = None
        self.at = 0  # bytes of the reply sent

    async def recv(self):
        if self.t0 is None:
            self.t0 = time.monotonic()
        due = self.t0 + self.k * 0.02
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        c = self.call
        data = bytes(2 * FRAME)
        start = c.first_rtp is not None and time.monotonic() >= c.first_rtp + self.delay_s
        if start and self.at < len(self.pcm):
            chunk = self.pcm[self.at : self.at + 2 * FRAME]
            data = chunk + bytes(2 * FRAME - len(chunk))
            self.at += 2 * FRAME
            c.reply_frames += 1
            if c.first_reply is None:
                c.first_reply = time.monotonic()
        frame = av.AudioFrame(format="s16", layout="mono", samples=FRAME)
        frame.planes[0].update(data)
        frame.sample_rate = RATE
        frame.pts = self.k * FRAME
        frame.time_base = fractions.Fraction(1, RATE)
        self.k += 1
        return frame


async def drain(track):
    try:
        while True:
            await track.recv()
    except Exception:
        pass


async def answer(offer_sdp, pcm, delay_s):
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    call = Call(pc)

    @pc.on("track")
    def on_track(track):
        asyncio.ensure_future(drain(track))

    await pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
    for t in pc.getTransceivers():
        if t.kind == "audio":
            t.receiver._voxload_call = call
            pc.addTrack(Reply(call, pcm, delay_s))
    answer = await pc.createAnswer()
    await pc.setLocalDescription(answer)
    call.codec = codec_of(pc.localDescription.sdp)
    call.encoder_lag_frames = encoder_lag(call.codec)
    cid = next_id[0]
    next_id[0] += 1
    calls[cid] = call
    return cid, pc.localDescription.sdp


def encoder_lag(rtpmap):
    """Frames aiortc's encoder for `rtpmap` (e.g. "PCMU/8000") takes in
    before its first payload comes out: audio handed to it at t leaves
    lag x 20 ms later. (Its G.711 encoders resample 48 kHz through PyAV,
    which holds one frame back; Opus does not.)"""
    name, rate = rtpmap.split("/")[:2]
    params = RTCRtpCodecParameters(
        mimeType=f"audio/{name}", clockRate=int(rate), channels=2 if name == "opus" else 1
    )
    encoder = get_encoder(params)
    for k in range(5):
        frame = av.AudioFrame(format="s16", layout="mono", samples=FRAME)
        frame.planes[0].update(bytes(2 * FRAME))
        frame.sample_rate = RATE
        frame.pts = k * FRAME
        frame.time_base = fractions.Fraction(1, RATE)
        payloads, _ = encoder.encode(frame)
        if payloads:
            return k
    return None


def codec_of(sdp):
    """The first audio payload's rtpmap in the answer: what was negotiated."""
    pt = None
    for line in sdp.splitlines():
        if line.startswith("m=audio"):
            pt = line.split()[3]
        elif pt is not None and line.startswith(f"a=rtpmap:{pt} "):
            return line.split(" ", 1)[1]
    return None


async def handle(reader, writer, pcm, delay_s):
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        length = 0
        for line in lines[1:]:
            if line.lower().startswith("content-length:"):
                length = int(line.split(":", 1)[1])
        body = await reader.readexactly(length) if length else b""
        status, headers, out = "404 Not Found", {}, b"no such route"
        if method == "POST" and path == "/offer":
            cid, sdp = await answer(body.decode(), pcm, delay_s)
            status, out = "201 Created", sdp.encode()
            headers = {"Content-Type": "application/sdp", "Location": f"/session/{cid}"}
        elif method == "DELETE" and path.startswith("/session/"):
            call = calls.get(int(path.rsplit("/", 1)[1]))
            if call is not None:
                call.deleted = True
                await call.pc.close()
                status, out = "200 OK", b""
        elif method == "GET" and path == "/truth":
            out = json.dumps({str(k): c.truth() for k, c in calls.items()}).encode()
            status, headers = "200 OK", {"Content-Type": "application/json"}
        head = f"HTTP/1.1 {status}\r\nContent-Length: {len(out)}\r\nConnection: close\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        writer.write(head.encode() + b"\r\n" + out)
        await writer.drain()
    except asyncio.IncompleteReadError:
        pass  # a connection closed without a request
    except Exception as e:  # a bad request ends its connection, not the agent
        print(f"request failed: {e!r}", file=sys.stderr, flush=True)
    finally:
        writer.close()


async def main():
    wav_path, delay_ms = sys.argv[1], int(sys.argv[2])
    with wave.open(wav_path, "rb") as w:
        assert w.getframerate() == RATE and w.getnchannels() == 1 and w.getsampwidth() == 2
        pcm = w.readframes(w.getnframes())
    server = await asyncio.start_server(
        lambda r, w: handle(r, w, pcm, delay_ms / 1000.0), "127.0.0.1", 0
    )
    print(f"LISTENING {server.sockets[0].getsockname()[1]}", flush=True)
    loop = asyncio.get_running_loop()
    stdin_closed = loop.run_in_executor(None, sys.stdin.read)
    await asyncio.wait([stdin_closed], timeout=LIFE_S)
    for c in calls.values():
        await c.pc.close()
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
    # The executor thread may still block on stdin: leave without it.
    import os

    os._exit(0)
