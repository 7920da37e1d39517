"""SEPC neck: variants, zero offsets = PConv (property 3), sizes, plain mode, legacy padding, input checks."""
import pytest
import torch

from mmdet_ext.models.necks import SEPC
from tests.models.pconv_reference import pconv_sums

SIZES = [(25, 42), (13, 21), (7, 11), (4, 6), (2, 3)]
VARIANTS = {'pconv': dict(), 'ibn_pconv': dict(ibn=True), 'sepc_lite': dict(ibn=True, extra_deform=True),
            'sepc': dict(ibn=True, extra_deform=True, pconv_deform=True)}


def pyramid(c=8, n=2):
    gen = torch.Generator().manual_seed(0)
    return tuple(torch.randn(n, c, h, w, generator=gen) for h, w in SIZES)


@pytest.mark.parametrize('variant', sorted(VARIANTS))
def test_variants_output_pairs_of_input_sizes(variant):  # property 4
    feats = pyramid()
    outs = SEPC(8, **VARIANTS[variant])(feats)
    assert len(outs) == 5
    for (cls, reg), x in zip(outs, feats):
        assert cls.shape == x.shape and reg.shape == x.shape


def test_zero_offsets_sepc_equals_pconv_and_offsets_get_gradients():  # property 3
    feats = pyramid()
    torch.manual_seed(0)
    sepc = SEPC(8, **VARIANTS['sepc']).train()
    ref = SEPC(8, ibn=True).train()
    ref.load_state_dict(sepc.state_dict(), strict=False)  # same weights, no offset convs
    outs, ref_outs = sepc(feats), ref(feats)
    for (c, r), (rc, rr) in zip(outs, ref_outs):
        torch.testing.assert_close(c, rc, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(r, rr, atol=1e-4, rtol=1e-4)
    # a loss that is not symmetric in the features, so that offsets matter
    weights = [torch.randn_like(c) for c, _ in outs]
    sum((c * w).sum() + (r * w).sum() for (c, r), w in zip(outs, weights)).backward()
    offset_convs = [m for n, m in sepc.named_modules() if n.endswith('offset_conv')]
    assert len(offset_convs) == 4 * 3 + 2
    for m in offset_convs:
        assert m.weight.grad is not None and m.weight.grad.abs().sum() > 0


def _unfolded_eval(sepc, feats):
    """Eval-mode SEPC written out naively: every conv, then BN with the running statistics, then ReLU."""
    import torch.nn.functional as F

    def bn(ibn, xs):
        return [F.batch_norm(x, ibn.running_mean, ibn.running_var, ibn.weight, ibn.bias, False, 0.0, ibn.eps)
                for x in xs]

    for block in sepc.pconvs:
        feats = [F.relu(o) for o in bn(block.norm, pconv_sums(block, feats))]
    cls = bn(sepc.cnorm, [sepc.cconv(x, lvl > 0) for lvl, x in enumerate(feats)])
    reg = bn(sepc.lnorm, [sepc.lconv(x, lvl > 0) for lvl, x in enumerate(feats)])
    return [(F.relu(c), F.relu(r)) for c, r in zip(cls, reg)]


@pytest.mark.parametrize('variant', ['ibn_pconv', 'sepc_lite', 'sepc'])
def test_eval_ibn_folded_into_kernels_equals_bn_after_the_sum(variant):
    """Eval mode folds iBN (running statistics, affine) into the kernels: same output as BN applied
    to the sum, with non-trivial statistics and non-zero offsets (float64)."""
    torch.manual_seed(0)
    sepc = SEPC(8, **VARIANTS[variant]).double()
    for name, p in sepc.named_parameters():
        if 'offset_conv' in name or name.endswith('bias') or 'bn' in name:
            p.data.normal_(0, 0.3)
    for m in sepc.modules():
        if hasattr(m, 'running_var'):
            m.running_mean.normal_(0, 0.05)
            m.running_var.uniform_(0.5, 2.0).mul_(1e-3)  # the scale of N(0, 0.01) conv outputs
    sepc.eval()
    feats = [f.double() for f in pyramid()]
    with torch.no_grad():
        ours, ref = sepc(feats), _unfolded_eval(sepc, feats)
    for (c, r), (rc, rr) in zip(ours, ref):
        assert rc.abs().max() > 0.1  # the statistics matter
        torch.testing.assert_close(c, rc, atol=1e-10, rtol=1e-8)
        torch.testing.assert_close(r, rr, atol=1e-10, rtol=1e-8)


def test_plain_mode_returns_one_feature_per_level():
    feats = pyramid()
    neck = SEPC(8, plain=True, ibn=True)
    outs = neck(feats)
    assert all(isinstance(o, torch.Tensor) and o.shape == x.shape for o, x in zip(outs, feats))
    assert not hasattr(neck, 'cconv')


def test_legacy_padding_shrinks_levels():
    outs = SEPC(8, num_levels=4, legacy_padding=True)(pyramid()[:4])
    assert [tuple(c.shape[-2:]) for c, _ in outs] == [(h - 2, w - 2) for h, w in SIZES[:4]]
    assert SEPC(8).cconv.conv.padding == (1, 1) and SEPC(8, legacy_padding=True).cconv.conv.padding == (0, 0)


def test_wrong_number_of_levels_names_shapes():
    with pytest.raises(ValueError, match=r'built for 5 levels of shape \(N, 8, H, W\); received 4 levels '
                                         r'with shapes \[\(2, 8, 25, 42\)'):
        SEPC(8)(pyramid()[:4])


def test_wrong_channels_names_shapes():
    feats = list(pyramid())
    feats[2] = torch.randn(2, 16, 7, 11)
    with pytest.raises(ValueError, match=r'received 5 levels with shapes .*\(2, 16, 7, 11\)'):
        SEPC(8)(feats)


def test_mmcv_and_torch_dcn_give_the_same_neck():
    feats = pyramid()[:4]  # mmcv's kernel refuses levels smaller than the kernel (2 x 3); ours does not
    torch.manual_seed(1)
    a = SEPC(8, num_levels=4, **VARIANTS['sepc'], dcn_impl='torch').eval()
    b = SEPC(8, num_levels=4, **VARIANTS['sepc'], dcn_impl='mmcv').eval()
    with torch.no_grad():
        for n, p in a.named_parameters():
            if 'offset_conv.weight' in n:
                p.normal_(0, 0.05)
    b.load_state_dict(a.state_dict())
    for (c1, r1), (c2, r2) in zip(a(feats), b(feats)):
        torch.testing.assert_close(c1, c2, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(r1, r2, atol=1e-5, rtol=1e-4)


def test_registered():
    from mmdet.registry import MODELS
    assert MODELS.get('SEPC') is SEPC


def test_gn_switch_replaces_every_ibn():
    """gn_groups: GroupNorm where iBN would be (every PConv block, cconv, lconv), no iBN left."""
    sepc = SEPC(8, gn_groups=4, extra_deform=True)
    kinds = [type(m).__name__ for m in sepc.modules()]
    assert kinds.count('GroupNorm') == 4 + 2 and 'IntegratedBN' not in kinds
    outs = sepc(pyramid())
    assert all(c.shape == x.shape and r.shape == x.shape for (c, r), x in zip(outs, pyramid()))
    with pytest.raises(ValueError, match='ibn=True and gn_groups=4: choose one normalisation'):
        SEPC(8, ibn=True, gn_groups=4)
