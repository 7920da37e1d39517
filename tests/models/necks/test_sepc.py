"""SEPC neck: variants, zero offsets = PConv (property 3), sizes, plain mode, legacy padding, input checks."""
import pytest
import torch

from mmdet_ext.models.necks import SEPC

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
