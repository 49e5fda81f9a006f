"""Speech training: the p/b/m token labels and the loss term on them (tools/train_audio.py, tools/training)."""
import json
import sys
from argparse import Namespace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))  # training code lives outside the package
import train_audio  # noqa: E402
from training.losses import CLOSED_CM, loss_fn  # noqa: E402
from training.visemes import bilabial_frames, phones_to_weights  # noqa: E402
from face3d.names import ICT_NAMES  # noqa: E402

J = {n: i for i, n in enumerate(ICT_NAMES)}
# a p shorter than a frame at 50 Hz (nearest frame only), a long m, a b at the very end
PHONES = [{"phone": p, "start": s, "end": e} for p, s, e in (
    ("sil", 0.0, 0.3), ("p", 0.3, 0.31), ("aa", 0.31, 0.5), ("m", 0.5, 0.62), ("iy", 0.62, 0.8),
    ("b", 0.8, 0.86), ("sil", 0.86, 1.2))]


def _gap():
    from training.losses import lip_gap_coefficients

    g0, d = lip_gap_coefficients()
    return g0, torch.from_numpy(d)


def test_bilabial_frames_are_the_frames_the_targets_close():
    for fps in (30, 50):
        n = int(1.2 * fps)
        bil = bilabial_frames(PHONES, fps, n)
        w = phones_to_weights(PHONES, fps, n)
        g0, d = _gap()
        closed = g0 + w @ d.numpy() < CLOSED_CM
        assert bil.sum() >= 3 and closed[bil].all()
        t = np.arange(n) / fps
        assert bil[np.argmin(abs(t - 0.305))]  # the sub-frame p: its nearest frame
        assert not bil[(t > 0.33) & (t < 0.49)].any() and bil[(t >= 0.5) & (t < 0.62)].all()


def test_token_labels_follow_the_output_delay(tmp_path):
    (tmp_path / "x.phone.json").write_text(json.dumps(PHONES))
    n, delay = 60, 3
    tgt, mask, bil = train_audio.token_targets({"phones": "x.phone.json"}, tmp_path, n, delay)
    ref = bilabial_frames(PHONES, 50, n)
    assert np.array_equal(bil[delay:].astype(bool), ref[:n - delay]) and not bil[:delay].any()
    assert np.allclose(tgt[bil > 0, J["mouthClose"]], tgt[bil > 0, J["jawOpen"]])
    # curve items (no phones) carry no labels
    np.save(tmp_path / "c.npy", np.zeros((40, 53), np.float32))
    _, _, none = train_audio.token_targets({"targets": "c.npy", "fps": 30}, tmp_path, n, delay)
    assert none.shape == (n,) and not none.any()


def test_bilabial_loss_term_is_off_by_default_and_punishes_open_lips_on_pbm():
    torch.manual_seed(0)
    tgt = torch.zeros(1, 10, 53)
    wgt = torch.ones(1, 10, 53)
    pred = tgt.clone()
    pred[0, 4:6, J["jawOpen"]] = 0.3  # lips open on the two p/b/m tokens
    bil = torch.zeros(1, 10)
    bil[0, 4:6] = 1
    args = Namespace(vel_weight=1.0, gap_weight=0.2, close_weight=0.3, bilabial_weight=0.0)
    base = loss_fn(pred, tgt, wgt, args, _gap())
    assert torch.equal(base, loss_fn(pred, tgt, wgt, args, _gap(), bil))
    args.bilabial_weight = 1.0
    more = loss_fn(pred, tgt, wgt, args, _gap(), bil)
    assert more > base + 0.5  # the open gap there is ~0.87 cm
    shut = pred.clone()
    shut[0, 4:6, J["mouthClose"]] = 0.3  # mouthClose = jawOpen: closed
    assert loss_fn(shut, tgt, wgt, args, _gap(), bil) < more - 0.5



def test_open_hinge_is_off_by_default_and_punishes_shut_lips_where_the_target_is_open():
    tgt = torch.zeros(1, 10, 53)
    tgt[0, :4, J["jawOpen"]] = 0.5  # clearly open lips on the first tokens
    wgt = torch.ones(1, 10, 53)
    pred = tgt.clone()
    pred[0, :4, J["mouthClose"]] = 0.5  # but the prediction shuts them
    args = Namespace(vel_weight=1.0, gap_weight=0.2, close_weight=0.3, bilabial_weight=0.0)
    base = loss_fn(pred, tgt, wgt, args, _gap())
    args.open_weight = 0.0
    assert torch.equal(base, loss_fn(pred, tgt, wgt, args, _gap()))
    args.open_weight = 1.0
    assert loss_fn(pred, tgt, wgt, args, _gap()) > base + 0.3
    assert torch.allclose(loss_fn(tgt, tgt, wgt, args, _gap()), torch.zeros(()), atol=1e-6)
