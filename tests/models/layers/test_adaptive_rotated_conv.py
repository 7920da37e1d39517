"""AdaptiveRotatedConv2d: properties 1, 5 and 6 of shared/specs/arc.md, the fast path, loading."""
import math

import pytest
import torch
import torch.nn.functional as F

from mmdet_ext.models.layers import ARCRouting, AdaptiveRotatedConv2d
from mmdet_ext.models.layers.arc_rotation import rotation_matrix

# (in, out, stride, padding, dilation, groups): small shapes, the conv variants ResNets use.
CONV_CASES = [(4, 6, 1, 1, 1, 1), (4, 6, 2, 1, 1, 1), (4, 4, 1, 2, 2, 1), (4, 6, 2, 1, 1, 2)]


def make(cin=4, cout=6, seed=0, **kwargs):
    torch.manual_seed(seed)
    return AdaptiveRotatedConv2d(cin, cout, 3, **kwargs)


def random_routing(batch, n, seed=1):
    gen = torch.Generator().manual_seed(seed)
    lam = torch.rand(batch, n, generator=gen)
    theta = (torch.rand(batch, n, generator=gen) - 0.5) * math.radians(80)
    return lam, theta


@pytest.mark.parametrize('cin,cout,stride,padding,dilation,groups', CONV_CASES)
def test_one_kernel_at_zero_angle_is_conv2d(cin, cout, stride, padding, dilation, groups):
    conv = make(cin, cout, num_kernels=1, stride=stride, padding=padding, dilation=dilation,
                groups=groups)
    x = torch.randn(3, cin, 9, 11)
    ones, zeros = torch.ones(3, 1), torch.zeros(3, 1)
    expected = F.conv2d(x, conv.weight[0], None, stride, padding, dilation, groups)
    for impl in ('grouped', 'per_image'):
        torch.testing.assert_close(conv.forward_with(x, ones, zeros, impl), expected)


def test_zero_theta_head_gives_conv_with_gated_kernel_sum():
    conv = make().eval()
    torch.nn.init.zeros_(conv.routing.fc_theta.weight)  # no bias: theta = 0 exactly
    x = torch.randn(2, 4, 8, 8)
    lam, theta = conv.routing(x)
    assert torch.equal(theta, torch.zeros_like(theta))
    out = conv(x)
    for b in range(2):
        kernel = (lam[b, :, None, None, None, None] * conv.weight).sum(0)
        torch.testing.assert_close(out[b:b + 1], F.conv2d(x[b:b + 1], kernel, padding=1))


@pytest.mark.parametrize('cin,cout,stride,padding,dilation,groups', CONV_CASES)
def test_equals_gated_sum_of_rotated_convs(cin, cout, stride, padding, dilation, groups):
    """By linearity: conv(x, sum_i lam_i M_i W_i) = sum_i lam_i conv(x, M_i W_i)."""
    conv = make(cin, cout, stride=stride, padding=padding, dilation=dilation, groups=groups)
    x = torch.randn(2, cin, 10, 9)
    lam, theta = random_routing(2, 4)
    out = conv.forward_with(x, lam, theta)
    for b in range(2):
        ref = 0
        for i in range(4):
            rotated = (rotation_matrix(theta[b, i]) @ conv.weight[i].reshape(-1, 9).T).T
            ref = ref + lam[b, i] * F.conv2d(x[b:b + 1], rotated.reshape(conv.weight[i].shape),
                                             None, stride, padding, dilation, groups)
        torch.testing.assert_close(out[b:b + 1], ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('cin,cout,stride,padding,dilation,groups', CONV_CASES)
def test_fast_path_equals_reference_path(cin, cout, stride, padding, dilation, groups):
    """'per_image' (the inference path) gives the grouped reference's output and gradients."""
    conv = make(cin, cout, stride=stride, padding=padding, dilation=dilation, groups=groups,
                bias=True)
    torch.nn.init.normal_(conv.bias)
    x = torch.randn(3, cin, 9, 10)
    lam, theta = random_routing(3, 4)
    outs, grads = {}, {}
    for impl in ('grouped', 'per_image'):
        conv.zero_grad()
        xi, li, ti = (t.clone().requires_grad_() for t in (x, lam, theta))
        outs[impl] = conv.forward_with(xi, li, ti, impl)
        outs[impl].square().sum().backward()
        grads[impl] = [xi.grad, li.grad, ti.grad, conv.weight.grad.clone(), conv.bias.grad.clone()]
    torch.testing.assert_close(outs['per_image'], outs['grouped'], rtol=1e-5, atol=1e-5)
    for a, b in zip(grads['per_image'], grads['grouped']):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_auto_path_choice():
    conv = make()
    x = torch.randn(2, 4, 6, 6)
    assert conv._pick_impl(x) == 'grouped'                       # training: the reference
    assert conv._pick_impl(x[:1]) == 'per_image'                 # batch 1: a plain conv
    with torch.no_grad():
        assert conv._pick_impl(x) == 'per_image'                 # CPU inference
    conv.impl = 'grouped'
    with torch.no_grad():
        assert conv._pick_impl(x) == 'grouped'


@pytest.mark.parametrize('impl', ['auto', 'grouped', 'per_image'])
def test_batch_independence_in_eval(impl):
    conv = make(impl=impl).eval()
    x = torch.randn(3, 4, 8, 7)
    with torch.no_grad():
        full = conv(x)
        for b in range(3):
            torch.testing.assert_close(full[b:b + 1], conv(x[b:b + 1]), rtol=1e-5, atol=1e-6)


def test_train_and_eval_differ_by_routing_dropout():
    conv = make(cin=16, cout=4)
    torch.nn.init.normal_(conv.routing.fc_theta.weight, std=1.0)
    x = torch.randn(2, 16, 6, 6)
    torch.manual_seed(0)
    train_out = conv.train()(x)
    eval_out = conv.eval()(x)
    assert not torch.allclose(train_out, eval_out)
    torch.testing.assert_close(eval_out, conv(x))  # eval is deterministic


def test_gradients_reach_angle_head_even_at_zero_angle():
    conv = make().train()
    torch.nn.init.zeros_(conv.routing.fc_theta.weight)  # theta = 0: the branch point of M
    conv.routing.drop_theta.p = 0.0
    x = torch.randn(2, 4, 8, 8)
    conv(x).square().sum().backward()
    assert conv.routing.fc_theta.weight.grad.abs().sum() > 0
    for name in ('dwconv', 'fc_lambda'):
        assert getattr(conv.routing, name).weight.grad.abs().sum() > 0
    assert conv.weight.grad.abs().sum() > 0


def test_routing_ranges_init_and_fp32_under_autocast():
    torch.manual_seed(0)
    routing = ARCRouting(8, num_kernels=3, theta_max=40.0).eval()
    assert routing.fc_theta.bias is None and torch.equal(routing.fc_lambda.bias, torch.zeros(3))
    assert routing.fc_theta.weight.abs().max() <= 2 * 0.02 + 1e-7  # truncated normal, std 0.02
    assert torch.equal(routing.norm.weight, torch.ones(8))
    torch.nn.init.normal_(routing.fc_theta.weight, std=100.0)  # saturate softsign
    x = torch.randn(4, 8, 5, 5)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        lam, theta = routing(x)
    assert lam.dtype == theta.dtype == torch.float32 and lam.shape == theta.shape == (4, 3)
    assert ((lam > 0) & (lam < 1)).all()
    assert theta.abs().max() < math.radians(40) and theta.abs().max() > math.radians(30)


def test_output_dtype_follows_input_under_autocast():
    conv = make().eval()
    x = torch.randn(2, 4, 8, 8)
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        out = conv(x)
    assert out.shape == (2, 6, 8, 8)
    torch.testing.assert_close(out.float(), conv(x).detach(), rtol=0.05, atol=0.05)


def test_loading_an_ordinary_conv_weight_fills_the_bank():
    conv = make()
    plain = torch.randn(6, 4, 3, 3)
    routing_before = {k: v.clone() for k, v in conv.routing.state_dict().items()}
    result = conv.load_state_dict({'weight': plain}, strict=False)
    for i in range(conv.num_kernels):
        assert torch.equal(conv.weight[i], plain)
    assert sorted(result.missing_keys) == sorted(f'routing.{k}' for k in routing_before)
    for k, v in conv.routing.state_dict().items():
        assert torch.equal(v, routing_before[k])
    # A full ARC state dict round-trips unchanged.
    other = make(seed=5)
    other.load_state_dict(conv.state_dict())
    assert torch.equal(other.weight, conv.weight)
    with pytest.raises(RuntimeError, match='size mismatch'):
        conv.load_state_dict({'weight': torch.randn(6, 4, 5, 5)}, strict=False)


@pytest.mark.parametrize('kernel_size', [1, 5, (3, 5)])
def test_kernel_size_other_than_3x3_is_refused(kernel_size):
    with pytest.raises(ValueError, match=r'3x3 kernels only; got kernel_size=\('):
        AdaptiveRotatedConv2d(4, 4, kernel_size)


def test_other_bad_arguments():
    with pytest.raises(ValueError, match='divisible by groups=3'):
        AdaptiveRotatedConv2d(4, 6, 3, groups=3)
    with pytest.raises(ValueError, match='impl'):
        AdaptiveRotatedConv2d(4, 6, 3, impl='fast')
    with pytest.raises(ValueError, match='num_kernels'):
        AdaptiveRotatedConv2d(4, 6, 3, num_kernels=0)


def test_bank_is_stored_tap_major_and_any_layout_gives_the_same_result():
    import copy
    conv = make().eval()
    assert conv.weight.shape == (4, 6, 4, 3, 3)
    assert conv.weight.permute(0, 3, 4, 1, 2).is_contiguous()  # synthesis reads it as a view
    x = torch.randn(2, 4, 7, 7)
    with torch.no_grad():
        ref = conv(x)
        for other in (copy.deepcopy(conv), conv.double()):
            assert other.weight.permute(0, 3, 4, 1, 2).is_contiguous()
        conv.float()
        plain = make().eval()
        plain.weight = torch.nn.Parameter(conv.weight.detach().contiguous())  # a contiguous bank
        plain.routing.load_state_dict(conv.routing.state_dict())
        torch.testing.assert_close(plain(x), ref)
        reloaded = make(seed=7).eval()
        reloaded.load_state_dict(conv.state_dict())
        assert reloaded.weight.permute(0, 3, 4, 1, 2).is_contiguous()
        torch.testing.assert_close(reloaded(x), ref)
