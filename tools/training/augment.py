"""Train-time acoustic augmentation of log-mel crops, in the mel power domain (``tools/train_audio.py``).

The corpus holds one fixed augmented copy of every item (``build_corpus.py --augment``); this draws a new
acoustic condition for every crop of every step, so that the model sees each utterance in many rooms,
through many microphones and over many backgrounds. It works on the cached log-mel (no waveform is kept
in memory), with the approximations of spectral-domain augmentation, per mel band and 20 ms frame:

- room reverberation: the power spectrogram convolved in time with the energy envelope of a synthesised
  impulse response (direct sound + exponentially decaying tail, RT60 0.15-1.0 s, shorter at high
  frequencies, direct-to-reverberant ratio -3..+15 dB);
- microphone / old-recording colouring: a high-pass (60-400 Hz) and low-pass (2.8-7.6 kHz) of 6-24 dB per
  octave, a spectral tilt of -+6 dB over the range and up to two resonances of -+8 dB;
- vocal-tract length / formant warp: the frequency axis scaled by 0.88-1.12 (VTLP);
- low-frequency rumble (``p_rumble``, default 0: off): handling / room / tape rumble (noise low-passed at
  30-150 Hz) or mains hum (50 or 60 Hz and harmonics) at -6..20 dB below the speech, the condition of old
  amateur recordings (LibriVox: 46-84 % of the quiet frames' power below 100 Hz, ARCTIC 9 %);
- additive backgrounds at 0-30 dB SNR (RMS over the whole item, as ``training.mixes.mix``): white / pink /
  brown noise, applause, training music beds (``mixes``, training seeds and instruments only) and babble
  made from other corpus items; independent sources add in power. Half of them are confined to the item
  (a recording's hiss that starts with the stream: its onset is not a speech onset), half run through the
  crop's digital-silence margins too.

Targets are untouched: the mouth is the same whatever room it speaks in. ``check`` compares the mel-domain
mix with a waveform mix of the same noise (``python tools/training/augment.py CORPUS``): median 0.13 / 0.10
ln-power apart over pink noise / applause at 10 dB, against a 2.5 change that the noise itself makes.

Measured (tools/eval_lipsync.py, December 2026, 2500-step fine-tunes of the 8000-step model at lr 5e-4,
``--init``): ``--acoustic 0.25`` and ``0.5`` raise LibriVox jawOpen r from 0.725 to 0.758 / 0.760, silence
with lips closed from 0.889 to 1.000 and most noisy rows, for ARCTIC jawOpen r 0.803 / 0.798 (0.805);
``--acoustic 1`` costs ARCTIC 0.03, and from scratch at 1 (8000 steps) both sets' jaw r fell to ~0.6-0.65.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

TOKEN_S = 0.02


class MelAugment:
    """``aug(mel [B, C, n_mels] log power, power [B] item waveform power, span [B, 2]) -> augmented mel``;
    span: the frames the item covers (a crop may run into digital silence past its ends)."""

    def __init__(self, logmel, items: list[dict], seed: int, p_reverb=0.4, p_eq=0.4, p_warp=0.3, p_noise=0.5,
                 snr=(0.0, 30.0), bank_s: float = 12.0, n_beds: int = 48, p_rumble: float = 0.0,
                 rumble_snr=(-6.0, 20.0)):
        from librosa import mel_frequencies

        from training import mixes

        self.floor = logmel.floor
        self.p = dict(reverb=p_reverb, eq=p_eq, warp=p_warp, noise=p_noise)
        self.snr = snr
        self.gen = torch.Generator().manual_seed(seed + 17)
        rng = np.random.default_rng(seed + 1234)  # training seeds (evaluation mixes use 10_000 + clip)
        self.freqs = torch.from_numpy(mel_frequencies(logmel.n_mels + 2, fmin=logmel.fmin, fmax=logmel.fmax)[1:-1]
                                      .astype(np.float32))
        # background bank: unit-waveform-power beds as mel power [n_beds, T, n_mels]
        kinds = ["white", "pink", "brown", "applause", "music", "melody"]
        n = int(bank_s * mixes.SR)
        beds = []
        for i in range(n_beds):
            x = mixes.bed(kinds[i % len(kinds)], n, rng, "train")
            x = x / (np.sqrt(np.mean(x.astype(np.float64) ** 2)) + 1e-12)
            if rng.random() < 0.3:  # wandering level
                env = np.interp(np.arange(n), np.linspace(0, n, 6), 10 ** (rng.uniform(-0.5, 0.5, 6) / 2))
                x = x * env / np.sqrt(np.mean(env ** 2))
            beds.append(np.exp(logmel(x.astype(np.float32))) - self.floor)
        self.beds = torch.from_numpy(np.stack(beds).astype(np.float32)).clamp_min(0)
        # babble: sums of 3-7 corpus items' mel power, each scaled to unit waveform power
        self.items = items
        self.rng = rng
        self.p_rumble, self.rumble_snr = p_rumble, rumble_snr
        self.rumbles = None
        if p_rumble > 0:  # own generator: the other components draw exactly as without it
            r_rng = np.random.default_rng(seed + 4321)
            self.rumbles = torch.from_numpy(np.stack([np.exp(logmel(rumble(n, r_rng))) - self.floor
                                                      for _ in range(16)]).astype(np.float32)).clamp_min(0)

    def _u(self, b: int, lo: float, hi: float) -> torch.Tensor:
        return torch.empty(b).uniform_(lo, hi, generator=self.gen)

    def _on(self, b: int, kind: str) -> torch.Tensor:
        return torch.rand(b, generator=self.gen) < self.p[kind]

    def reverb(self, pw: torch.Tensor, on: torch.Tensor) -> torch.Tensor:
        b, c, f = pw.shape
        k = 60  # frames of tail (1.2 s)
        rt = self._u(b, 0.15, 1.0)[:, None] * (1 - 0.45 * (self.freqs / self.freqs[-1]))[None]  # [B, F]
        drr = 10 ** (self._u(b, -3, 15) / 10)  # direct / reverberant energy
        t = torch.arange(1, k, dtype=torch.float32) * TOKEN_S
        tail = torch.exp(-13.8155 * t[None, None] / rt[..., None])  # [B, F, k-1] energy decay (60 dB at RT60)
        tail = tail / tail.sum(-1, keepdim=True) / drr[:, None, None]
        h = torch.cat([torch.ones(b, f, 1), tail], -1)  # h[..., j]: weight of the frame j back
        h = torch.where(on[:, None, None], h, torch.nn.functional.one_hot(torch.zeros(b, f, dtype=torch.long), k)
                        .float())
        x = torch.nn.functional.pad(pw.permute(0, 2, 1).reshape(1, b * f, c), (k - 1, 0))
        y = torch.nn.functional.conv1d(x, h.flip(-1).reshape(b * f, 1, k), groups=b * f)
        return y.reshape(b, f, c).permute(0, 2, 1)

    def eq(self, pw: torch.Tensor, on: torch.Tensor) -> torch.Tensor:
        b = pw.shape[0]
        lf = torch.log2(self.freqs)[None]  # [1, F]
        lo, hi = torch.log2(self._u(b, 60, 400))[:, None], torch.log2(self._u(b, 2800, 7600))[:, None]
        s_lo, s_hi = self._u(b, 6, 24)[:, None], self._u(b, 6, 24)[:, None]
        db = -s_lo * torch.relu(lo - lf) - s_hi * torch.relu(lf - hi)
        span = lf[:, -1:] - lf[:, :1]
        db = db + self._u(b, -6, 6)[:, None] * ((lf - lf[:, :1]) / span - 0.5)
        for _ in range(2):
            c, w, g = self._u(b, 8, 12.7)[:, None], self._u(b, 0.2, 1.0)[:, None], self._u(b, -8, 8)[:, None]
            db = db + g * torch.exp(-0.5 * ((lf - c) / w) ** 2) * (torch.rand(b, 1, generator=self.gen) < 0.6)
        gain = torch.where(on[:, None], 10 ** (db / 10), torch.ones_like(db))
        return pw * gain[:, None, :]

    def warp(self, pw: torch.Tensor, on: torch.Tensor) -> torch.Tensor:
        b, c, f = pw.shape
        alpha = torch.where(on, self._u(b, 0.88, 1.12), torch.ones(b))
        src = self.freqs[None] / alpha[:, None]  # output band at f reads the input at f / alpha
        idx = torch.from_numpy(np.interp(src.numpy(), self.freqs.numpy(), np.arange(f)).astype(np.float32))
        i0 = idx.floor().long().clamp(0, f - 2)
        fr = (idx - i0).clamp(0, 1)
        g0 = torch.gather(pw, 2, i0[:, None].expand(b, c, f))
        g1 = torch.gather(pw, 2, (i0 + 1)[:, None].expand(b, c, f))
        return g0 * (1 - fr[:, None]) + g1 * fr[:, None]

    def background(self, c: int, f: int) -> torch.Tensor:
        """One unit-power background [c, F] (mel power): a bank bed or babble."""
        if self.rng.random() < 0.25 and len(self.items) > 8:
            out = torch.zeros(c, f)
            for _ in range(int(self.rng.integers(3, 8))):
                it = self.items[int(self.rng.integers(len(self.items)))]
                mel = it["mel"]
                s = int(self.rng.integers(0, max(1, len(mel) - c)))
                seg = torch.from_numpy(np.exp(mel[s: s + c].astype(np.float32)) - self.floor).clamp_min(0)
                seg = seg / max(float(it["power"]), 1e-12)
                out[: len(seg)] += seg * 10 ** self.rng.uniform(-0.3, 0.3)
            return out / 3.0
        bed = self.beds[int(self.rng.integers(len(self.beds)))]
        s = int(self.rng.integers(0, len(bed) - c))
        return bed[s: s + c]

    def __call__(self, mel: torch.Tensor, power: torch.Tensor, span: torch.Tensor) -> torch.Tensor:
        b, c, f = mel.shape
        pw = (mel.exp() - self.floor).clamp_min(0)
        on = {k: self._on(b, k) for k in self.p}
        if on["reverb"].any():
            pw = self.reverb(pw, on["reverb"])
        if on["warp"].any():
            pw = self.warp(pw, on["warp"])
        if on["eq"].any():
            pw = self.eq(pw, on["eq"])
        snr = self._u(b, *self.snr)
        for i in torch.nonzero(on["noise"]).flatten().tolist():
            # half the time the background is part of the recording: it starts and ends with the item, as a
            # stream starts (after the model's digital-silence start state) and is flushed with zeros; a
            # noise onset there is no speech onset. Otherwise it runs through (a crop inside a long stream).
            lo, hi = (int(span[i, 0]), int(span[i, 1])) if self.rng.random() < 0.5 else (0, c)
            pw[i, lo:hi] += self.background(c, f)[lo:hi] * float(power[i]) / 10 ** (float(snr[i]) / 10)
        if self.rumbles is not None:
            r_on = torch.rand(b, generator=self.gen) < self.p_rumble
            r_snr = self._u(b, *self.rumble_snr)
            for i in torch.nonzero(r_on).flatten().tolist():
                bed = self.rumbles[int(torch.randint(len(self.rumbles), (1,), generator=self.gen))]
                s = int(torch.randint(max(1, len(bed) - c), (1,), generator=self.gen))
                pw[i] += bed[s: s + c] * float(power[i]) / 10 ** (float(r_snr[i]) / 10)
        return torch.log(pw + self.floor)


def rumble(n: int, rng: np.random.Generator) -> np.ndarray:
    """[n] unit-power low-frequency background: noise low-passed at 30-150 Hz (rumble) or 50/60 Hz mains hum
    with 2-5 harmonics of falling level (2/3 rumble, 1/3 hum), 16 kHz."""
    from scipy.signal import butter, sosfilt

    from training import mixes

    if rng.random() < 2 / 3:
        sos = butter(int(rng.integers(2, 5)), float(rng.uniform(30, 150)), "low", fs=mixes.SR, output="sos")
        x = sosfilt(sos, rng.normal(0, 1, n + mixes.SR))[mixes.SR:]
    else:
        t = np.arange(n) / mixes.SR
        f0 = float(rng.choice([50.0, 60.0])) * rng.uniform(0.995, 1.005)
        x = sum(rng.uniform(0.2, 1.0) / h * np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 6.3))
                for h in range(1, int(rng.integers(2, 6)) + 1))
    return (x / (np.sqrt(np.mean(x ** 2)) + 1e-12)).astype(np.float32)


def check(corpus) -> None:
    """Mel-domain mix vs waveform mix of a corpus item over pink noise and applause at 10 dB SNR."""
    import json

    from face3d.audio.features import LogMel, load_audio
    from training import mixes

    root = Path(corpus)
    rec = json.loads((root / "manifest.jsonl").read_text().splitlines()[0])
    audio = load_audio(root / rec["wav"])
    lm = LogMel()
    for kind in ("pink", "applause"):
        noise = mixes.bed(kind, len(audio), np.random.default_rng(5), "train")
        wave = lm(mixes.mix(audio, noise, 10.0))
        s = float(np.mean(audio.astype(np.float64) ** 2))
        g2 = s / float(np.mean(noise.astype(np.float64) ** 2)) / 10.0
        melmix = np.log(np.exp(lm(audio)) - lm.floor + g2 * (np.exp(lm(noise)) - lm.floor) + lm.floor)
        print(f"{kind}: |waveform mix - mel mix| median {np.median(np.abs(wave - melmix)):.3f} "
              f"mean {np.mean(np.abs(wave - melmix)):.3f} ln power (spread of the mix {wave.std():.2f})")


if __name__ == "__main__":
    import sys

    sys.path[:0] = [str(Path(__file__).resolve().parents[2]), str(Path(__file__).resolve().parents[1])]
    check(sys.argv[1])
