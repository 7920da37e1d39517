"""SEPC layers: the pure-PyTorch DCNv1 against mmcv's, integrated BN (plain and synchronised over
2 gloo processes), and the PConv block's properties (spec sepc.md, properties 1, 2, 4, 5, 6)."""
import socket

import pytest
import torch
import torch.nn.functional as F

from mmdet_ext.models.layers.integrated_bn import IntegratedBN, concat_levels
from mmdet_ext.models.layers.pyramid_conv import PConvBlock, SharedLevelConv
from mmdet_ext.models.layers.sepc_deform_conv import deform_conv2d_torch, deform_conv2d_torchvision
from tests.models.pconv_reference import pconv_sums

SIZES = [(25, 42), (13, 21), (7, 11), (4, 6), (2, 3)]


def pyramid(c=8, n=2, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(n, c, h, w, generator=gen) for h, w in SIZES]


# ---------------------------------------------------------------- deformable conv
@pytest.mark.parametrize('impl', [deform_conv2d_torch, deform_conv2d_torchvision])
@pytest.mark.parametrize('h,w,stride,padding,scale', [
    (7, 11, 1, 1, 0.0), (13, 21, 2, 1, 1.5), (9, 9, 1, 0, 2.0), (25, 42, 1, 1, 0.7), (5, 6, 2, 1, 3.0),
    (20, 23, 1, 1, 0.0), (24, 27, 2, 1, 0.0), (8, 10, 1, 1, -2.0)])
def test_deform_conv_equals_mmcv_values_and_gradients(impl, h, w, stride, padding, scale):
    """Zero offsets put the padding ring's taps exactly at -1 (torchvision alone would give their
    offsets a gradient there); scale < 0: offsets rounded to integers of spread |scale|."""
    from mmcv.ops import deform_conv2d
    gen = torch.Generator().manual_seed(h * 100 + w)
    x = torch.randn(2, 4, h, w, generator=gen, requires_grad=True)
    weight = torch.randn(3, 4, 3, 3, generator=gen, requires_grad=True)
    ho, wo = (h + 2 * padding - 3) // stride + 1, (w + 2 * padding - 3) // stride + 1
    offset = torch.randn(2, 18, ho, wo, generator=gen) * abs(scale)
    offset = (offset.round() if scale < 0 else offset).requires_grad_()
    grad_out = torch.randn(2, 3, ho, wo, generator=gen)
    results = []
    for fn in (lambda: deform_conv2d(x, offset, weight, stride, padding, 1, 1, 1),
               lambda: impl(x, offset, weight, stride, padding)):
        out = fn()
        results.append((out, *torch.autograd.grad((out * grad_out).sum(), (x, offset, weight))))
    for name, ref, ours in zip(('out', 'd_input', 'd_offset', 'd_weight'), *results):
        tol = 1e-3 * ref.abs().max().item() + 1e-5
        assert (ref - ours).abs().max().item() <= tol, name


def test_deform_conv_float64_path_equals_float32_path():
    """float32 on CPU multiplies with oneDNN, float64 with a plain matrix product: same values and
    gradients."""
    gen = torch.Generator().manual_seed(1)
    x, weight = torch.randn(2, 6, 11, 13, generator=gen), torch.randn(5, 6, 3, 3, generator=gen)
    offset, grad_out = torch.randn(2, 18, 6, 7, generator=gen), torch.randn(2, 5, 6, 7, generator=gen)
    results = []
    for dtype in (torch.float32, torch.float64):
        inputs = [t.to(dtype).requires_grad_() for t in (x, offset, weight)]
        out = deform_conv2d_torch(inputs[0], inputs[1], inputs[2], 2, 1)
        results.append([out, *torch.autograd.grad((out * grad_out.to(dtype)).sum(), inputs)])
    for f32, f64 in zip(*results):
        torch.testing.assert_close(f32.double(), f64, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize('h,w', [(13, 21), (1, 6), (5, 1)])  # one-row / one-column levels: P7 of small images
def test_deform_conv_zero_offsets_is_conv(h, w):
    x, weight = torch.randn(2, 4, h, w), torch.randn(5, 4, 3, 3)
    for stride in (1, 2):
        ho, wo = (h - 1) // stride + 1, (w - 1) // stride + 1
        out = deform_conv2d_torch(x, torch.zeros(2, 18, ho, wo), weight, stride, 1)
        torch.testing.assert_close(out, F.conv2d(x, weight, stride=stride, padding=1), atol=2e-3, rtol=1e-3)


def test_deform_conv_bad_offset_shape():
    with pytest.raises(ValueError, match=r'expected offset of shape \(1, 18, 5, 5\), received \(1, 18, 4, 4\)'):
        deform_conv2d_torch(torch.randn(1, 2, 5, 5), torch.zeros(1, 18, 4, 4), torch.randn(2, 2, 3, 3))


def test_shared_level_conv_dcn_impls_agree_and_bad_name_is_named():
    """'auto' (ours on CPU), 'torch' and 'torchvision' give the same values and gradients."""
    torch.manual_seed(0)
    conv = SharedLevelConv(4, 3, 2, 1, deformable=True)
    torch.nn.init.normal_(conv.offset_conv.weight, 0, 0.3)  # non-trivial offsets
    x = torch.randn(2, 4, 9, 12)
    results = []
    for impl in ('auto', 'torch', 'torchvision'):
        conv.dcn_impl = impl
        out = conv(x, deform=True)
        results.append([out, *torch.autograd.grad(out.square().sum(), list(conv.parameters()))])
    for other in results[1:]:
        for a, b in zip(results[0], other):
            torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match=r"dcn_impl must be one of .*'torchvision'.*received 'cuda'"):
        SharedLevelConv(4, 4, deformable=True, dcn_impl='cuda')


def test_shared_level_conv_init():
    conv = SharedLevelConv(16, 16, deformable=True)
    assert conv.conv.bias.abs().sum() == 0 and conv.offset_conv.weight.abs().sum() == 0
    assert abs(conv.conv.weight.std().item() - 0.01) < 0.002
    assert conv.offset_conv.out_channels == 18


# ---------------------------------------------------------------- integrated BN
def test_ibn_pools_statistics_over_levels():  # property 2
    feats = [f * (i + 1) + i for i, f in enumerate(pyramid())]
    ibn = IntegratedBN(8).train()
    outs = ibn(feats)
    flat = concat_levels(outs)
    mean, var = flat.mean(dim=(0, 2, 3)), flat.var(dim=(0, 2, 3), unbiased=False)
    torch.testing.assert_close(mean, torch.zeros(8), atol=1e-5, rtol=0)
    torch.testing.assert_close(var, torch.ones(8), atol=1e-3, rtol=0)
    single = outs[0].mean(dim=(0, 2, 3)).abs().max()
    assert single > 0.1  # a single level alone is not normalised
    bn = torch.nn.BatchNorm2d(8).train()
    torch.testing.assert_close(concat_levels(outs), bn(concat_levels(feats)))
    torch.testing.assert_close(ibn.running_var, bn.running_var)
    # eval mode: running statistics, level by level, same as BN on the concatenation
    ibn.eval(), bn.eval()
    torch.testing.assert_close(concat_levels(ibn(feats)), bn(concat_levels(feats)))


def test_ibn_bad_channels():
    with pytest.raises(ValueError, match=r'expects \(N, 8, H, W\) levels, received \[\(2, 4, 3, 3\)\]'):
        IntegratedBN(8)([torch.randn(2, 4, 3, 3)])


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _sync_worker(rank, world, port, feats, grad_outs, queue):
    import torch.distributed as dist
    torch.set_num_threads(1)
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank, world_size=world)
    try:
        local = [f[rank::world].clone().requires_grad_() for f in feats]
        ibn = IntegratedBN(feats[0].shape[1], sync='auto').train()
        with torch.no_grad():
            ibn.weight.copy_(torch.linspace(0.5, 1.5, ibn.num_features))
            ibn.bias.copy_(torch.linspace(-1, 1, ibn.num_features))
        outs = ibn(local)
        loss = sum((o * g[rank::world]).sum() for o, g in zip(outs, grad_outs))
        loss.backward()
        # numpy: pickled by value (shared-memory tensors die with this process)
        queue.put((rank, [o.detach().numpy() for o in outs], [x.grad.numpy() for x in local],
                   ibn.running_mean.numpy(), ibn.running_var.numpy(), ibn.weight.grad.numpy()))
        dist.barrier()
    finally:
        dist.destroy_process_group()


def test_sync_ibn_two_gloo_processes_equal_single_process_on_whole_batch():
    import torch.multiprocessing as mp
    feats = [f * (i + 1) for i, f in enumerate(pyramid(c=4, n=4, seed=3))]
    grad_outs = [torch.randn_like(f) for f in feats]
    ctx = mp.get_context('spawn')
    queue = ctx.Queue()
    port = _free_port()
    procs = [ctx.Process(target=_sync_worker, args=(r, 2, port, feats, grad_outs, queue)) for r in range(2)]
    for p in procs:
        p.start()
    results = {}
    for _ in procs:
        rank, *rest = queue.get(timeout=120)
        results[rank] = [[torch.from_numpy(a) for a in r] if isinstance(r, list) else torch.from_numpy(r)
                         for r in rest]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    # the reference: one process, the whole batch
    whole = [f.clone().requires_grad_() for f in feats]
    ibn = IntegratedBN(4, sync='auto').train()
    with torch.no_grad():
        ibn.weight.copy_(torch.linspace(0.5, 1.5, 4))
        ibn.bias.copy_(torch.linspace(-1, 1, 4))
    outs = ibn(whole)
    sum((o * g).sum() for o, g in zip(outs, grad_outs)).backward()
    for rank in range(2):
        r_outs, r_grads, r_mean, r_var, r_wgrad = results[rank]
        torch.testing.assert_close(r_mean, ibn.running_mean)
        torch.testing.assert_close(r_var, ibn.running_var)
        for o, ref in zip(r_outs, outs):
            torch.testing.assert_close(o, ref[rank::2].detach(), atol=1e-5, rtol=1e-5)
        for g, ref in zip(r_grads, whole):
            torch.testing.assert_close(g, ref.grad[rank::2], atol=1e-5, rtol=1e-4)
    # weight gradients are per-process partial sums (DDP adds them)
    torch.testing.assert_close(results[0][4] + results[1][4], ibn.weight.grad, atol=1e-4, rtol=1e-4)


# ---------------------------------------------------------------- PConv block
def test_pconv_without_cross_level_kernels_is_shared_conv():  # property 1
    block = PConvBlock(8)
    with torch.no_grad():
        for k in (block.k_down, block.k_up):
            k.conv.weight.zero_(), k.conv.bias.zero_()
        block.k_same.conv.bias.normal_()
    feats = pyramid()
    for out, x in zip(block(feats), feats):
        torch.testing.assert_close(out, F.relu(block.k_same.conv(x)))


def test_pconv_keeps_sizes_on_odd_chains():  # property 4
    feats = pyramid()
    for deformable in (False, True):
        outs = PConvBlock(8, deformable=deformable, ibn=True)(feats)
        assert [o.shape for o in outs] == [f.shape for f in feats]


def test_pconv_upsampled_term_align_corners():  # property 5
    block = PConvBlock(2)
    with torch.no_grad():
        block.k_up.conv.weight.normal_()
    coarse = torch.randn(1, 2, 4, 6)
    up_conv = block.k_up.conv(coarse)
    up = F.interpolate(up_conv, size=(7, 11), mode='bilinear', align_corners=True)
    for (i, j), (ci, cj) in zip([(0, 0), (0, -1), (-1, 0), (-1, -1)], [(0, 0), (0, -1), (-1, 0), (-1, -1)]):
        torch.testing.assert_close(up[..., i, j], up_conv[..., ci, cj])
    # a constant map: the conv output is constant inside (borders see padding), so test the
    # resize itself on the conv of a constant map with zero padding removed: a constant stays
    const = torch.full((1, 2, 4, 6), 3.0)
    torch.testing.assert_close(F.interpolate(const, size=(7, 11), mode='bilinear', align_corners=True),
                               torch.full((1, 2, 7, 11), 3.0))
    # inside the block: K_same, K_down zero, K_up = identity on a constant level 1 -> out_0 constant
    with torch.no_grad():
        for k in (block.k_same, block.k_down):
            k.conv.weight.zero_()
        block.k_up.conv.weight.zero_()
        block.k_up.conv.weight[:, :, 1, 1] = torch.eye(2)
    out0 = block([torch.zeros(1, 2, 7, 11), const])[0]
    torch.testing.assert_close(out0, torch.full((1, 2, 7, 11), 3.0))


def test_pconv_mixes_only_neighbouring_levels():  # property 6
    block = PConvBlock(8, deformable=True)
    with torch.no_grad():
        for k in (block.k_same, block.k_down, block.k_up):
            k.offset_conv.weight.normal_(0, 0.1)
    feats = pyramid()
    ref = block(feats)
    perturbed = list(feats)
    perturbed[2] = perturbed[2] + 5.0
    outs = block(perturbed)
    torch.testing.assert_close(outs[0], ref[0])  # level 0 sees levels 0 and 1 only
    assert not torch.allclose(outs[1], ref[1]) and not torch.allclose(outs[3], ref[3])
    torch.testing.assert_close(outs[4], ref[4])


def test_pconv_size_mismatch_names_sizes():
    with pytest.raises(ValueError, match=r'halves .* to \(4, 4\), but level 1 is \(5, 5\)'):
        PConvBlock(2)([torch.randn(1, 2, 8, 8), torch.randn(1, 2, 5, 5)])


def test_pconv_gn_normalises_each_level_alone():
    """gn_groups: GroupNorm on each level's sum by itself (one affine for all levels), then ReLU."""
    torch.manual_seed(0)
    block = PConvBlock(8, gn_groups=4)
    with torch.no_grad():
        block.norm.weight.normal_(), block.norm.bias.normal_()
        for k in (block.k_same, block.k_down, block.k_up):
            k.conv.bias.normal_()
    feats = pyramid()
    with torch.no_grad():
        expected = [F.relu(F.group_norm(s, 4, block.norm.weight, block.norm.bias)) for s in pconv_sums(block, feats)]
        outs = block(feats)
    for out, ref in zip(outs, expected):
        torch.testing.assert_close(out, ref)
    with pytest.raises(ValueError, match='gn_groups=4: choose one'):
        PConvBlock(8, ibn=True, gn_groups=4)
