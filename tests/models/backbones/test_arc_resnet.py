"""ARCResNet: layout, parameter count, checkpoint inflation, freezing, bad input."""
import re

import pytest
import torch
import torch.nn as nn

import mmdet_ext  # noqa: F401  (registers ARCResNet)
from mmdet.models.backbones import ResNet
from mmdet_ext.models.backbones import ARCResNet
from mmdet_ext.models.layers import AdaptiveRotatedConv2d

R50_BLOCKS = (3, 4, 6, 3)


def n_params(module):
    return sum(p.numel() for p in module.parameters())


def tiny(depth=50, **kwargs):
    """A ResNet of the given depth with 8 base channels: real layout, tiny tensors."""
    kwargs.setdefault('base_channels', 8)
    return ARCResNet(depth, **kwargs)


@pytest.fixture(scope='module')
def resnet50_checkpoint(tmp_path_factory):
    """A randomly initialised torchvision ResNet-50 state dict saved to a file (no download)."""
    import torchvision
    torch.manual_seed(0)
    state = torchvision.models.resnet50().state_dict()
    path = tmp_path_factory.mktemp('ckpt') / 'tv_resnet50.pth'
    torch.save(state, path)
    return str(path), state


def test_default_layout_resnet50():
    model = tiny()
    names = list(model.arc_modules())
    expected = [f'layer{s + 1}.{b}.conv2' for s in (1, 2, 3) for b in range(R50_BLOCKS[s])]
    assert names == expected and len(names) == 13
    for b in range(3):  # stage 1 untouched
        assert type(model.layer1[b].conv2) is nn.Conv2d
    first = model.layer2[0].conv2
    assert first.stride == (2, 2) and first.num_kernels == 4 and first.bias is None
    for block in model.layer3:  # 1x1 convs and downsample stay ordinary convs
        assert type(block.conv1) is nn.Conv2d and type(block.conv3) is nn.Conv2d
    assert model.arc_blocks == ((), (0, 1, 2, 3), (0, 1, 2, 3, 4, 5), (0, 1, 2))
    assert len(ARCResNet(101, base_channels=8).arc_modules()) == 30


def test_forward_shapes_match_resnet():
    torch.manual_seed(0)
    arc = tiny(arc_blocks=([0], 'all', [1, 3], None)).eval()
    plain = ResNet(50, base_channels=8)
    plain.eval()  # mmdet's ResNet.train returns None: no chaining
    assert list(arc.arc_modules()) == ['layer1.0.conv2'] + [f'layer2.{i}.conv2' for i in range(4)] + [
        'layer3.1.conv2', 'layer3.3.conv2']
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        outs, ref = arc(x), plain(x)
    assert [o.shape for o in outs] == [r.shape for r in ref]


def test_parameter_count_resnet50():
    arc, plain = ARCResNet(50), ResNet(50)
    extra = n_params(arc) - n_params(plain)
    # 3 more kernels per replaced conv2 (stages 2-4: 4 x 128^2, 6 x 256^2, 3 x 512^2, times 9) ...
    bank = 3 * 9 * (4 * 128**2 + 6 * 256**2 + 3 * 512**2)
    assert bank == 33_619_968
    # ... plus each routing function: depthwise 9C, LayerNorm 2C, two heads 4C + 4 + 4C.
    routing = sum(blocks * (19 * c + 4) for blocks, c in ((4, 128), (6, 256), (3, 512)))
    assert extra == bank + routing == 33_688_116
    assert abs(extra / 33.6e6 - 1) < 0.01  # the spec's +33.6 M within 1%


def test_inflation_through_init_cfg_pretrained(resnet50_checkpoint):
    path, state = resnet50_checkpoint
    model = ARCResNet(50, init_cfg=dict(type='Pretrained', checkpoint=path))
    torch.manual_seed(1)
    model.init_weights()
    _check_inflated(model, state)


def test_inflation_through_load_from(resnet50_checkpoint):
    """The runner's load_from path: MMEngine's load_checkpoint on a detector-like wrapper."""
    from mmengine.runner.checkpoint import load_checkpoint
    path, state = resnet50_checkpoint
    detector_file = path.replace('.pth', '_as_detector.pth')
    torch.save({'meta': {}, 'state_dict': {f'backbone.{k}': v for k, v in state.items()}},
               detector_file)
    wrapper = nn.Module()
    wrapper.backbone = ARCResNet(50)
    wrapper.backbone.init_weights()
    load_checkpoint(wrapper, detector_file, map_location='cpu', strict=False)
    _check_inflated(wrapper.backbone, state)


def _check_inflated(model, state):
    arcs = model.arc_modules()
    assert len(arcs) == 13
    for name, arc in arcs.items():
        original = state[f'{name}.weight']
        for i in range(arc.num_kernels):
            assert torch.equal(arc.weight[i], original), (name, i)
        # The routing keeps its own init (not zeros / not from the checkpoint).
        assert arc.routing.fc_theta.weight.abs().max() > 0
        assert arc.routing.fc_theta.weight.abs().max() <= 0.04
    own = model.state_dict()
    for key in ('conv1.weight', 'layer1.0.conv2.weight', 'layer3.2.conv1.weight',
                'layer4.0.downsample.0.weight', 'layer2.1.bn2.running_mean'):
        assert torch.equal(own[key], state[key]), key


def test_inflated_single_kernel_network_equals_plain_resnet():
    """n = 1, gate saturated to 1, theta head zeroed: ARC-ResNet computes the ResNet it loaded."""
    torch.manual_seed(0)
    plain = ResNet(50, base_channels=8)
    plain.init_weights()
    arc = tiny(arc_cfg=dict(num_kernels=1))
    arc.load_state_dict(plain.state_dict(), strict=False)
    for conv in arc.arc_modules().values():
        nn.init.zeros_(conv.routing.fc_theta.weight)
        nn.init.zeros_(conv.routing.fc_lambda.weight)
        nn.init.constant_(conv.routing.fc_lambda.bias, 40.0)  # sigmoid(40) == 1 in fp32
    x = torch.randn(2, 3, 64, 64)
    plain.eval(), arc.eval()
    with torch.no_grad():
        for a, p in zip(arc(x), plain(x)):
            torch.testing.assert_close(a, p, rtol=1e-4, atol=1e-4)


def test_frozen_stages_and_norm_eval():
    model = tiny(frozen_stages=2, arc_blocks=(None, 'all', [0], None), norm_eval=True)
    model.train()
    frozen = model.layer2[1].conv2
    assert not any(p.requires_grad for p in frozen.parameters())
    assert not frozen.training and not frozen.routing.drop_theta.training  # no dropout when frozen
    live = model.layer3[0].conv2
    assert all(p.requires_grad for p in live.parameters()) and live.routing.training
    assert not model.layer3[0].bn2.training  # norm_eval keeps BN statistics fixed


def test_basic_block_variants():
    x = torch.randn(1, 3, 64, 64)
    plain = ResNet(18, base_channels=8)
    plain.eval()
    conv2 = ARCResNet(18, base_channels=8).eval()
    conv1 = ARCResNet(18, base_channels=8, arc_conv='conv1').eval()
    assert isinstance(conv2.layer2[0].conv2, AdaptiveRotatedConv2d)
    assert type(conv2.layer2[0].conv1) is nn.Conv2d
    assert isinstance(conv1.layer2[0].conv1, AdaptiveRotatedConv2d)
    assert conv1.layer2[0].conv1.stride == (2, 2) and type(conv1.layer2[0].conv2) is nn.Conv2d
    with torch.no_grad():
        shapes = [o.shape for o in plain(x)]
        assert [o.shape for o in conv2(x)] == shapes == [o.shape for o in conv1(x)]
    # ResNet-18: stages 2-4 have 2 blocks each, so 6 ARC convs.
    assert len(conv2.arc_modules()) == len(conv1.arc_modules()) == 6


def test_registered_for_mmdet_and_mmrotate_configs():
    from mmdet.registry import MODELS as MMDET_MODELS
    from mmrotate.registry import MODELS as MMROTATE_MODELS
    assert MMDET_MODELS.get('ARCResNet') is ARCResNet
    assert MMROTATE_MODELS.get('ARCResNet') is ARCResNet
    model = MMROTATE_MODELS.build(dict(type='ARCResNet', depth=18, base_channels=8,
                                       arc_cfg=dict(num_kernels=2)))
    assert all(m.num_kernels == 2 for m in model.arc_modules().values())


def test_blocks_that_do_not_exist_are_named():
    with pytest.raises(ValueError) as err:
        tiny(arc_blocks=(None, [0, 4], [5, 6, -1], 'all'))
    message = str(err.value)
    assert 'layer2.4' in message and 'layer3.6' in message and 'layer3.-1' in message
    assert 'layer3.5' not in message.split('(')[0]  # an existing block is not reported
    assert re.search(r'layer3: 6', message)
    with pytest.raises(ValueError, match='one entry per stage'):
        tiny(arc_blocks=('all', 'all', 'all'))
    with pytest.raises(ValueError, match="'some'"):
        tiny(arc_blocks=(None, 'some', None, None))
    with pytest.raises(ValueError, match='ints'):
        tiny(arc_blocks=(None, [1.0], None, None))


def test_other_bad_configurations():
    with pytest.raises(ValueError, match='BasicBlock'):
        tiny(arc_conv='conv1')
    with pytest.raises(ValueError, match='arc_conv'):
        tiny(arc_conv='conv3')
    with pytest.raises(TypeError, match=r'layer2\.0\.conv2 is a DeformConv2dPack'):
        tiny(dcn=dict(type='DCN', deform_groups=1, fallback_on_stride=False),
             stage_with_dcn=(False, True, False, False))
