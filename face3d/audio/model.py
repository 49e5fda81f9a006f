"""Audio2Face: a small causal transformer from log-mel frames to the 53 ICT expression weights.

Timing (the whole contract between features, model and the frames it emits)::

    audio (16 kHz)  --prepend PAD_SAMPLES zeros-->  log-mel frames, 50 Hz (25 ms window, 20 ms hop)
    mel --causal conv k3--> --causal conv k3--> tokens, 50 Hz (one per mel frame)
    tokens --pre-LN transformer layers, causal attention over the last `window` tokens, ALiBi-->
    --linear + sigmoid--> weights [53] per token

Token k has seen audio up to ``(k + 1) * 20 ms`` of the original signal and is the face at
``(k + 1) * 20 ms - lookahead``, i.e. at ``(k - delay) * 20 ms``: the model is strictly causal and buys its
look-ahead (80 ms) by delaying its output. Nothing depends on absolute position (relative ALiBi bias,
banded attention), so an hour streams exactly like ten seconds.

``step`` runs the model incrementally on new mel frames with an explicit ``State`` (conv tails and
per-layer key/value caches), attending block by block so that a long input costs no more than a short
one per second; ``forward`` runs whole batches from the start state (training). Both give the same numbers.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from face3d.audio.features import LogMel

N_OUT = 53
TOKEN_HZ = 50


@dataclass(frozen=True)
class Config:
    """Architecture and timing; saved beside the weights."""

    n_mels: int = 80
    dim: int = 96  # small on purpose: >= 300x real time on 2 CPU cores including features
    layers: int = 4
    heads: int = 4
    ff: int = 256
    window: int = 64  # tokens each query attends to, itself included (1.28 s)
    delay: int = 3  # output delay in tokens: look-ahead = delay * 20 ms + 20 ms (see module doc)
    dropout: float = 0.1

    @property
    def lookahead_s(self) -> float:
        """Audio after a token's face time that the token has seen."""
        return (self.delay + 1) / TOKEN_HZ


# Zero samples prepended to the audio so that token k's audio ends exactly at (k + 1) * 20 ms:
# mel frame k ends at sample 320 k + 400 of the padded signal.
PAD_SAMPLES = 80


@dataclass
class State:
    """Streaming state for a batch of B streams (B=1 in practice).

    mel_tail [B, 2, n_mels] (last normalised mel frames, for conv1), h_tail [B, 2, dim] (last conv1
    outputs, for conv2), kv: per layer (keys, values) [B, heads, <= window-1, dim/heads], tokens: count.
    """

    mel_tail: torch.Tensor
    h_tail: torch.Tensor
    kv: list[tuple[torch.Tensor, torch.Tensor]] = field(default_factory=list)
    tokens: int = 0


def _alibi_slopes(heads: int) -> torch.Tensor:
    return torch.tensor([2.0 ** (-8.0 * (h + 1) / heads) for h in range(heads)])


class Block(nn.Module):
    """Pre-LN transformer block; attention bias/mask come from the caller (relative positions)."""

    def __init__(self, cfg: Config):
        super().__init__()
        self.heads = cfg.heads
        self.norm1 = nn.LayerNorm(cfg.dim)
        self.qkv = nn.Linear(cfg.dim, 3 * cfg.dim)
        self.proj = nn.Linear(cfg.dim, cfg.dim)
        self.norm2 = nn.LayerNorm(cfg.dim)
        self.ff = nn.Sequential(nn.Linear(cfg.dim, cfg.ff), nn.GELU(), nn.Linear(cfg.ff, cfg.dim))
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, bias: torch.Tensor, past: tuple | None, keep: int):
        """x [B, n, dim]; bias [heads, n, m] (m = past + n, -inf outside the band);
        past (k, v) [B, heads, p, dh] or None. Returns (x [B, n, dim], (k, v) of the last ``keep`` >= 1 keys)."""
        b, n, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        if past is not None:
            k, v = torch.cat([past[0], k], 2), torch.cat([past[1], v], 2)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype))
        x = x + self.drop(self.proj(a.transpose(1, 2).reshape(b, n, d)))
        x = x + self.drop(self.ff(self.norm2(x)))
        return x, (k[:, :, -keep:], v[:, :, -keep:])


class Audio2Face(nn.Module):
    """Log-mel frames -> 53 ICT weights in [0, 1] at 50 Hz (see the module docstring for timing).

    Buffers ``mel_mean``/``mel_std`` [n_mels] hold the fixed feature normalisation of the training corpus.
    """

    def __init__(self, cfg: Config = Config()):
        super().__init__()
        self.cfg = cfg
        self.features = LogMel(n_mels=cfg.n_mels)  # 20 ms hop: one mel frame per token
        self.register_buffer("mel_mean", torch.zeros(cfg.n_mels))
        self.register_buffer("mel_std", torch.ones(cfg.n_mels))
        self.register_buffer("slopes", _alibi_slopes(cfg.heads))
        self.conv1 = nn.Conv1d(cfg.n_mels, cfg.dim, 3)
        self.conv2 = nn.Conv1d(cfg.dim, cfg.dim, 3)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.layers))
        self.norm = nn.LayerNorm(cfg.dim)
        self.head = nn.Linear(cfg.dim, N_OUT)
        nn.init.constant_(self.head.bias, -3.0)  # start near the rest pose (weights ~0.05)

    # -- state -------------------------------------------------------------------------------------
    def silence_mel(self) -> torch.Tensor:
        """[n_mels] normalised log-mel of digital silence (the conv context before a stream starts)."""
        return (math.log(self.features.floor) - self.mel_mean) / self.mel_std

    def start(self, batch: int = 1) -> State:
        """State before any audio: silence behind the first frame."""
        dev = self.mel_mean.device
        return State(mel_tail=self.silence_mel().expand(batch, 2, -1).clone(),
                     h_tail=torch.zeros(batch, 2, self.cfg.dim, device=dev))

    def _bias(self, q_pos: torch.Tensor, k_pos: torch.Tensor) -> torch.Tensor:
        """[heads, n, m] ALiBi bias, -inf for keys in the future or beyond the window."""
        dist = (q_pos[:, None] - k_pos[None, :]).float()
        ok = (dist >= 0) & (dist < self.cfg.window)
        return torch.where(ok, -self.slopes[:, None, None] * dist, float("-inf"))

    # -- compute -----------------------------------------------------------------------------------
    def step(self, mel: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """Run on new raw log-mel frames.

        mel [B, M, n_mels] (un-normalised, as ``LogMel`` returns) -> (weights [B, M, 53], new state).
        """
        if mel.shape[1] == 0:
            return mel.new_zeros(mel.shape[0], 0, N_OUT), state
        x = torch.cat([state.mel_tail, (mel - self.mel_mean) / self.mel_std], 1)
        h = torch.cat([state.h_tail, F.gelu(self.conv1(x.transpose(1, 2))).transpose(1, 2)], 1)
        z = F.gelu(self.conv2(h.transpose(1, 2))).transpose(1, 2)  # [B, M, dim]
        kv, tokens, out = state.kv, state.tokens, []
        # blocks of <= 2 windows: attention costs O(window) a token; 2 rather than 1 halves the per-block
        # overhead (CPU time of 60 s of speech 125 -> 109 ms, same outputs to 3e-7)
        for block in z.split(2 * self.cfg.window, 1):
            y, kv = self._attend(block, kv, tokens)
            out.append(y)
            tokens += block.shape[1]
        weights = torch.sigmoid(self.head(self.norm(torch.cat(out, 1))))
        return weights, State(mel_tail=x[:, -2:], h_tail=h[:, -2:], kv=kv, tokens=tokens)

    def _attend(self, z: torch.Tensor, kv: list, tokens: int) -> tuple[torch.Tensor, list]:
        """Transformer layers on one block z [B, n, dim] after ``tokens`` earlier ones -> (z, new caches)."""
        n = z.shape[1]
        past = kv[0][0].shape[2] if kv else 0
        bias = self._bias(torch.arange(tokens, tokens + n, device=z.device),
                          torch.arange(tokens - past, tokens + n, device=z.device))
        caches = []
        for i, block in enumerate(self.blocks):
            z, cache = block(z, bias, kv[i] if kv else None, self.cfg.window - 1)
            caches.append(cache)
        return z, caches

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """Whole sequences from the start state: mel [B, M, n_mels] raw log-mel -> [B, M, 53]."""
        return self.step(mel, self.start(mel.shape[0]))[0]


def save(model: Audio2Face, path, extra: dict | None = None) -> None:
    """Write weights + config (+ ``extra`` metadata) to ``path`` atomically."""
    from face3d.formats.atomic import atomic_file

    blob = {"config": asdict(model.cfg), "state_dict": model.state_dict(), "extra": extra or {}}
    with atomic_file(path) as tmp:
        torch.save(blob, tmp)


def load(path, device: str = "cpu") -> Audio2Face:
    """Load weights written by ``save`` (eval mode)."""
    from face3d.errors import AssetMissing

    try:
        blob = torch.load(path, map_location=device, weights_only=True)
        model = Audio2Face(Config(**blob["config"])).to(device)
        model.load_state_dict(blob["state_dict"])
    except FileNotFoundError:
        raise AssetMissing(f"{path}: audio2face weights not found") from None
    except Exception as e:  # truncated or foreign file: one line, not a pickle traceback
        raise AssetMissing(f"{path}: damaged audio2face weights ({type(e).__name__}); reinstall face3d") from None
    return model.eval()
