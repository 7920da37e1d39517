"""BoxRPB (spec properties 1-7), the lean attention vs the straightforward one, padding, bad input."""
import math

import pytest
import torch

from mmdet_ext.models.layers.box_rpb import (BoxRPBCrossAttention, box_pixel_offsets, box_rpb_attention,
                                             box_rpb_attention_naive, box_rpb_axial, box_rpb_bias, combine_axial,
                                             log_transform, make_rpb_mlp, ref_boxes_to_pixels)


def _boxes(B, nq, H, W, s, gen, dtype=torch.float32, max_wh=60.0):
    c = torch.rand(B, nq, 2, generator=gen, dtype=dtype) * torch.tensor([W * s, H * s], dtype=dtype)
    wh = torch.rand(B, nq, 2, generator=gen, dtype=dtype) * max_wh + 1
    return torch.cat([c - wh / 2, c + wh / 2], -1)


def _mlps(heads, hidden=16, dtype=torch.float32, seed=0, scale=1.0):
    torch.manual_seed(seed)
    mx, my = make_rpb_mlp(hidden, heads).to(dtype), make_rpb_mlp(hidden, heads).to(dtype)
    with torch.no_grad():
        for p in [*mx.parameters(), *my.parameters()]:
            p.mul_(scale)
    return mx, my


# --------------------------------------------------------------------------- properties 1-7
def test_zero_last_layer_gives_plain_attention():  # property 1
    torch.manual_seed(0)
    attn = BoxRPBCrossAttention(32, 4, rpb_mode='linear', rpb_hidden=16)
    plain = BoxRPBCrossAttention(32, 4, rpb_mode=None)
    plain.load_state_dict(attn.state_dict(), strict=False)
    with torch.no_grad():
        attn.rpb_mlp_x[2].weight.zero_()
        attn.rpb_mlp_y[2].weight.zero_()
    H, W = 3, 5
    q, k = torch.randn(2, 7, 32), torch.randn(2, H * W, 32)
    ref = torch.rand(2, 7, 4) * 0.5 + 0.2
    bias = box_rpb_bias(ref, (H, W), 16, attn.rpb_mlp_x, attn.rpb_mlp_y)
    assert torch.equal(bias, torch.zeros_like(bias))
    out = attn(q, k, k, ref, (H, W), 16)
    # explicit multi-head global attention with the same projections
    qh = attn.q_proj(q).view(2, 7, 4, 8).transpose(1, 2) / math.sqrt(8)
    kh = attn.k_proj(k).view(2, H * W, 4, 8).transpose(1, 2)
    vh = attn.v_proj(k).view(2, H * W, 4, 8).transpose(1, 2)
    expect = attn.out_proj(((qh @ kh.transpose(-1, -2)).softmax(-1) @ vh).transpose(1, 2).reshape(2, 7, 32))
    torch.testing.assert_close(out, expect, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(plain(q, k, k, None, (H, W), 16), expect, rtol=1e-5, atol=1e-6)


def test_decomposed_bias_equals_explicit_2d():  # property 2
    gen = torch.Generator().manual_seed(1)
    H, W, s = 4, 6, 16
    boxes = _boxes(2, 5, H, W, s, gen)
    mx, my = _mlps(3)
    bias = combine_axial(*box_rpb_axial(boxes, (H, W), s, mx, my))
    assert bias.shape == (2, 3, 5, H * W)
    feat = torch.arange(H * W).view(H, W)
    flat_index = feat.flatten()  # keys are flattened like a (H, W) map
    for i in range(H):
        for j in range(W):
            px, py = (j + 0.5) * s, (i + 0.5) * s
            dx = torch.stack([boxes[..., 0] - px, boxes[..., 2] - px], -1)
            dy = torch.stack([boxes[..., 1] - py, boxes[..., 3] - py], -1)
            explicit = (mx(dx) + my(dy)).permute(0, 2, 1)  # (B, heads, nQ)
            key = int((flat_index == feat[i, j]).nonzero())
            torch.testing.assert_close(bias[..., key], explicit, rtol=1e-5, atol=1e-5)


def test_translation_by_one_stride():  # property 3
    gen = torch.Generator().manual_seed(2)
    H, W, s = 5, 8, 16
    boxes = _boxes(1, 6, H, W, s, gen)
    shifted = boxes + torch.tensor([s, 0.0, s, 0.0])
    mx, my = _mlps(2)
    old = combine_axial(*box_rpb_axial(boxes, (H, W), s, mx, my)).view(1, 2, 6, H, W)
    new = combine_axial(*box_rpb_axial(shifted, (H, W), s, mx, my)).view(1, 2, 6, H, W)
    torch.testing.assert_close(new[..., 1:], old[..., :-1], rtol=1e-5, atol=1e-5)


def test_offset_sign_convention():  # property 4
    s = 16
    box = torch.tensor([[[40.0, 40.0, 100.0, 90.0]]])  # x1 y1 x2 y2
    dx, dy = box_pixel_offsets(box, (8, 10), s)
    px = (torch.arange(10) + 0.5) * s
    inside = (px >= 40) & (px <= 100)
    assert (dx[0, 0, inside, 0] <= 0).all() and (dx[0, 0, inside, 1] >= 0).all()
    left = px < 40
    assert left.any() and (dx[0, 0, left] > 0).all()
    right = px > 100
    assert (dx[0, 0, right] < 0).all()
    py = (torch.arange(8) + 0.5) * s
    assert (dy[0, 0, (py >= 40) & (py <= 90), 0] <= 0).all() and (dy[0, 0, py < 40] > 0).all()


def test_log_variant():  # property 5
    d = torch.linspace(-50, 50, 1001)
    f = log_transform(d)
    assert log_transform(torch.tensor(0.0)) == 0
    torch.testing.assert_close(log_transform(torch.tensor([7.0, -7.0])), torch.tensor([1.0, -1.0]))
    torch.testing.assert_close(log_transform(-d), -f)
    assert (f[1:] > f[:-1]).all()
    # the 'log' mode feeds transformed offsets to the MLPs
    box = torch.tensor([[[40.0, 40.0, 100.0, 90.0]]])
    lin, log = box_pixel_offsets(box, (4, 5), 16), box_pixel_offsets(box, (4, 5), 16, 'log')
    torch.testing.assert_close(log[0], log_transform(lin[0]))


def test_hand_built_mlp_zero_inside_negative_outside():  # property 6
    def hand_mlp():
        mlp = make_rpb_mlp(2, 1)
        with torch.no_grad():
            mlp[0].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, -1.0]]))  # relu(d1), relu(-d2)
            mlp[0].bias.zero_()
            mlp[2].weight.copy_(torch.tensor([[-1.0, -1.0]]))  # minus their sum
        return mlp

    H, W, s = 8, 10, 16
    box = torch.tensor([[[40.0, 40.0, 100.0, 90.0]]])
    bias = combine_axial(*box_rpb_axial(box, (H, W), s, hand_mlp(), hand_mlp())).view(H, W)
    py, px = torch.meshgrid((torch.arange(H) + 0.5) * s, (torch.arange(W) + 0.5) * s, indexing='ij')
    inside = (px >= 40) & (px <= 100) & (py >= 40) & (py <= 90)
    assert inside.any() and (~inside).any()
    assert (bias[inside] == 0).all()
    assert (bias[~inside] < 0).all()


def test_bias_shape_and_cxcywh_conversion():  # property 7
    H, W, s = 6, 9, 16
    ref = torch.tensor([[[0.5, 0.5, 0.2, 0.4]] * 3, [[0.25, 0.5, 0.5, 0.5]] * 3])
    mx, my = _mlps(4)
    assert box_rpb_bias(ref, (H, W), s, mx, my).shape == (2, 4, 3, H * W)
    assert box_rpb_bias(ref, (H, W), s, mx, my, mode='log').shape == (2, 4, 3, H * W)
    # normalised to the valid image, scaled by the valid ratio and the map size times the stride
    px = ref_boxes_to_pixels(ref, (H, W), s, valid_ratios=torch.tensor([[1.0, 1.0], [0.5, 1.0]]))
    torch.testing.assert_close(px[0, 0], torch.tensor([0.4 * 144, 0.3 * 96, 0.6 * 144, 0.7 * 96]))
    torch.testing.assert_close(px[1, 0], torch.tensor([0.0, 0.25 * 96, 0.25 * 144, 0.75 * 96]))


# --------------------------------------------------------------------------- lean vs straightforward
@pytest.mark.parametrize('mode', ['linear', 'log'])
@pytest.mark.parametrize('with_mask', [False, True])
# the second shape puts 2 * 60 * 30 = 3600 x-axis MLP rows in one chunk: several row blocks of
# whole queries (1020 rows) and a partial last one (see box_rpb._HiddenBlocks)
@pytest.mark.parametrize('shape', [(2, 3, 23, 8, 5, 7, 4), (2, 2, 60, 4, 6, 30, 60)])
def test_lean_equals_naive_values_and_grads(mode, with_mask, shape):
    gen = torch.Generator().manual_seed(3)
    B, nh, nq, dh, H, W, chunk_queries = shape
    s = 16
    dt = torch.float64
    q = torch.randn(B, nh, nq, dh, generator=gen, dtype=dt, requires_grad=True)
    k = torch.randn(B, nh, H * W, dh, generator=gen, dtype=dt, requires_grad=True)
    v = torch.randn(B, nh, H * W, dh, generator=gen, dtype=dt, requires_grad=True)
    boxes = _boxes(B, nq, H, W, s, gen, dt).requires_grad_(True)
    mx, my = _mlps(nh, 16, dt, scale=3.0)
    mask = None
    if with_mask:
        mask = torch.zeros(B, H, W, dtype=torch.bool)
        mask[1, H // 2 + 1:] = True
        mask[1, :, W // 2:] = True
        mask = mask.flatten(1)
    leaves = [q, k, v, boxes, *mx.parameters(), *my.parameters()]
    results = []
    lean_kw = dict(chunk_elems=B * nh * H * W * chunk_queries)
    for fn, kw in ((box_rpb_attention_naive, {}), (box_rpb_attention, dict(lean_kw, keep_probs=True)),
                   (box_rpb_attention, dict(lean_kw, keep_probs=False))):
        for t in leaves:
            t.grad = None
        out = fn(q, k, v, boxes, (H, W), s, mx, my, mode, mask, **kw)
        (out * torch.randn(out.shape, generator=torch.Generator().manual_seed(9), dtype=dt)).sum().backward()
        results.append([out.detach()] + [t.grad.clone() for t in leaves])
    names = ['out', 'q', 'k', 'v', 'boxes', 'wx1', 'bx1', 'wx2', 'wy1', 'by1', 'wy2']
    for lean in results[1:]:
        for name, a, b in zip(names, results[0], lean):
            torch.testing.assert_close(b, a, rtol=1e-9, atol=1e-10, msg=name)


def test_lean_module_matches_naive_module_float32():
    torch.manual_seed(4)
    lean = BoxRPBCrossAttention(32, 4, rpb_mode='linear', rpb_hidden=32, impl='lean', chunk_elems=2 * 4 * 30 * 3)
    naive = BoxRPBCrossAttention(32, 4, rpb_mode='linear', rpb_hidden=32, impl='naive')
    naive.load_state_dict(lean.state_dict())
    H, W = 5, 6
    q, mem = torch.randn(2, 11, 32), torch.randn(2, H * W, 32)
    ref = torch.rand(2, 11, 4) * 0.5 + 0.1
    outs = []
    for m in (lean, naive):
        m.zero_grad()
        out = m(q, mem, mem, ref, (H, W), 16)
        out.square().sum().backward()
        outs.append((out.detach(), {n: p.grad.clone() for n, p in m.named_parameters()}))
    torch.testing.assert_close(outs[0][0], outs[1][0], rtol=1e-5, atol=1e-6)
    for n in outs[0][1]:
        torch.testing.assert_close(outs[0][1][n], outs[1][1][n], rtol=1e-4, atol=1e-6, msg=n)


def _saved_bytes(fn):
    total = [0]

    def pack(t):
        total[0] += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return total[0], out


@pytest.mark.parametrize('keep_probs', [True, False])
def test_lean_path_keeps_no_full_bias_for_backward(keep_probs):
    gen = torch.Generator().manual_seed(5)
    B, nh, nq, dh, H, W, s = 1, 8, 200, 32, 20, 30, 16
    q = torch.randn(B, nh, nq, dh, generator=gen, requires_grad=True)
    k = torch.randn(B, nh, H * W, dh, generator=gen, requires_grad=True)
    boxes = _boxes(B, nq, H, W, s, gen)
    mx, my = _mlps(nh, 64)
    full = B * nh * nq * H * W * 4  # bytes of one (B, heads, nQ, H*W) fp32 tensor
    naive, _ = _saved_bytes(lambda: box_rpb_attention_naive(q, k, k, boxes, (H, W), s, mx, my))
    lean, _ = _saved_bytes(lambda: box_rpb_attention(q, k, k, boxes, (H, W), s, mx, my, keep_probs=keep_probs))
    assert naive >= 2 * full  # bias/logits/probabilities + the MLPs' hidden activations
    # q, k, v, the output, Bx, By (nQ * (H + W) per head), boxes, MLP weights, and with
    # keep_probs the attention map (what plain attention keeps): no bias, no logits, no hidden layer
    qkvo = 2 * q.numel() * 4 + 2 * k.numel() * 4
    axial = B * nh * nq * (H + W) * 4
    weights = sum(p.numel() * 4 for p in [*mx.parameters(), *my.parameters()]) + boxes.numel() * 4
    probs = full if keep_probs else 0
    assert lean <= qkvo + axial + weights + probs
    assert lean < 0.6 * full + probs


# --------------------------------------------------------------------------- padding
@pytest.mark.parametrize('impl', ['lean', 'naive'])
def test_batched_with_padding_equals_one_by_one(impl):
    torch.manual_seed(6)
    attn = BoxRPBCrossAttention(32, 4, rpb_mode='linear', rpb_hidden=2, impl=impl, chunk_elems=500)
    with torch.no_grad():  # a bias of +-5 per pixel of distance to the box: hundreds in magnitude
        for mlp in (attn.rpb_mlp_x, attn.rpb_mlp_y):
            mlp[0].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, -1.0]]))  # left of / right of the box
            mlp[0].bias.zero_()
            mlp[2].weight.copy_(torch.tensor([[-5.0, 5.0]]).expand(4, 2))
    sizes = [(4, 5), (6, 7)]
    Hp, Wp = 6, 7
    mems = [torch.randn(1, h * w, 32) for h, w in sizes]
    queries = [torch.randn(1, 9, 32) for _ in sizes]
    refs = [torch.rand(1, 9, 4) * 0.5 + 0.1 for _ in sizes]
    alone = [attn(q, m, m, r, hw, 16) for q, m, r, hw in zip(queries, mems, refs, sizes)]
    batch_mem = torch.randn(2, Hp, Wp, 32) * 10  # padded cells hold garbage
    mask = torch.ones(2, Hp, Wp, dtype=torch.bool)
    for i, (h, w) in enumerate(sizes):
        batch_mem[i, :h, :w] = mems[i].view(h, w, 32)
        mask[i, :h, :w] = False
    batch_mem, mask = batch_mem.flatten(1, 2), mask.flatten(1)
    ratios = torch.tensor([[w / Wp, h / Hp] for h, w in sizes])
    batched = attn(torch.cat(queries), batch_mem, batch_mem, torch.cat(refs), (Hp, Wp), 16, ratios, mask)
    for i in range(2):
        torch.testing.assert_close(batched[i], alone[i][0], rtol=1e-5, atol=1e-5)
    if impl == 'naive':  # the reference's soft -100 mask lets padded keys leak in
        attn.pad_value = -100.0
        leaky = attn(torch.cat(queries), batch_mem, batch_mem, torch.cat(refs), (Hp, Wp), 16, ratios, mask)
        assert not torch.allclose(leaky[0], alone[0][0], rtol=1e-3, atol=1e-5)


# --------------------------------------------------------------------------- bad input
def test_bad_input_errors():
    mx, my = _mlps(2)
    good = torch.tensor([[[0.5, 0.5, 0.2, 0.2]]])
    with pytest.raises(ValueError, match='NaN'):
        box_rpb_bias(torch.tensor([[[0.5, float('nan'), 0.2, 0.2]]]), (4, 4), 16, mx, my)
    with pytest.raises(ValueError, match='positive width and height'):
        box_rpb_bias(torch.tensor([[[0.5, 0.5, 0.0, 0.2]]]), (4, 4), 16, mx, my)
    with pytest.raises(ValueError, match='positive width and height'):
        box_rpb_bias(torch.tensor([[[10.0, 10.0, 5.0, 20.0]]]), (4, 4), 16, mx, my, box_format='xyxy')
    with pytest.raises(ValueError, match='stride 16 does not match the image'):
        box_rpb_bias(good, (4, 4), 16, mx, my, img_shape=(128, 64))
    box_rpb_bias(good, (4, 4), 16, mx, my, img_shape=(64, 60))  # ceil(60 / 16) = 4: fine
    with pytest.raises(ValueError, match=r'\(B, nQ, 4\)'):
        box_rpb_bias(good[0], (4, 4), 16, mx, my)
    attn = BoxRPBCrossAttention(16, 2, rpb_hidden=8)
    with pytest.raises(ValueError, match='does not match the image'):
        attn(torch.randn(1, 1, 16), torch.randn(1, 16, 16), torch.randn(1, 16, 16), good, (4, 4), 32,
             img_shape=(64, 64))
