"""configs/sepc: every config loads and builds, one loss step on a random batch; the COCO recipe as
the spec states it; end to end (slow): every `shapes` config trains a few iterations and evaluates,
every COCO config one iteration on the embedded data, then evaluates."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from tests.conftest import DEMO_CFG, ONE_ITER, ROOT, TINY, on_embedded_data, run_tool

SEPC_DIR = osp.join(ROOT, 'configs', 'sepc')
VARIANTS = {'pconv': (False, False, False), 'ibn-pconv': (False, False, True),
            'sepc-lite': (False, True, True), 'sepc': (True, True, True)}
COCO = [f'{det}_r50_fpn_{v}_1x_coco.py' for det in ('retinanet', 'atss') for v in VARIANTS]
SHAPES = (['retinanet_r18_fpn_shapes.py', 'retinanet_r18_fpn_no-gn_shapes.py', 'atss_r18_fpn_4conv_shapes.py',
           'atss_r18_fpn_ibn-pconv-plain_4conv_shapes.py', 'atss_r18_fpn_gn-pconv_shapes.py']
          + [f'{det}_r18_fpn_{v}_shapes.py' for det in ('retinanet', 'atss') for v in VARIANTS])
TWO_STAGE = ['faster-rcnn_r50_fpn_pconv_1x_coco.py', 'faster-rcnn_r18_fpn_pconv_shapes.py', 'faster-rcnn_r18_fpn_shapes.py']
ALL = COCO + SHAPES + TWO_STAGE
ON_COCO = [n for n in ALL if n.endswith('_coco.py')]
ON_SHAPES = [n for n in ALL if n.endswith('_shapes.py')]


def load(name):
    return Config.fromfile(osp.join(SEPC_DIR, name))


def test_config_list_is_complete():
    found = {osp.basename(p) for p in glob.glob(osp.join(SEPC_DIR, '*.py'))}
    assert found == set(ALL) == set(ON_COCO + ON_SHAPES)


@pytest.mark.parametrize('name', COCO)
def test_coco_recipe(name):
    cfg = load(name)
    fpn, sepc = cfg.model.neck
    assert fpn.type == 'FPN' and fpn.start_level == 1 and fpn.num_outs == 5 and fpn.out_channels == 256
    variant = name.split('_')[3]
    assert (sepc.get('pconv_deform', False), sepc.get('extra_deform', False), sepc.get('ibn', False)) == VARIANTS[variant]
    assert sepc.num_levels == 5 and sepc.num_blocks == 4 and sepc.in_channels == 256
    assert cfg.model.bbox_head.stacked_convs == 0 and cfg.model.bbox_head.type.startswith('SEPC')
    assert cfg.model.backbone.depth == 50
    opt = cfg.optim_wrapper
    assert opt.optimizer.type == 'SGD' and opt.optimizer.lr == 0.01 and opt.optimizer.momentum == 0.9
    assert opt.optimizer.weight_decay == 1e-4 and opt.clip_grad.max_norm == 35
    warmup, steps = cfg.param_scheduler
    assert warmup.type == 'LinearLR' and warmup.end == 500 and not warmup.by_epoch
    assert cfg.train_cfg.max_epochs == 12 and steps.milestones == [8, 11]
    assert cfg.train_dataloader.batch_size == 4


def test_no_gn_baseline_differs_only_in_tower_norm():
    base, no_gn = load('retinanet_r18_fpn_shapes.py').to_dict(), load('retinanet_r18_fpn_no-gn_shapes.py').to_dict()
    assert base['model']['bbox_head'].pop('norm_cfg')['type'] == 'GN'
    assert no_gn['model']['bbox_head'].pop('norm_cfg') is None
    assert base == no_gn


def test_atss_4conv_baseline_differs_from_the_demo_only_in_tower_depth():
    from mmengine.config import Config
    demo = Config.fromfile(osp.join(ROOT, 'configs', 'demo', 'atss_r18_fpn_shapes.py')).to_dict()
    deep = load('atss_r18_fpn_4conv_shapes.py').to_dict()
    assert (demo['model']['bbox_head'].pop('stacked_convs'), deep['model']['bbox_head'].pop('stacked_convs')) == (2, 4)
    assert demo == deep


def test_faster_rcnn_plain_neck_strides():
    cfg = load('faster-rcnn_r50_fpn_pconv_1x_coco.py')
    fpn, sepc = cfg.model.neck
    assert sepc.plain is True and sepc.num_levels == fpn.num_outs == 5
    assert cfg.model.rpn_head.anchor_generator.strides == [4, 8, 16, 32, 64]
    assert cfg.model.roi_head.bbox_roi_extractor.featmap_strides == [4, 8, 16, 32]


def _random_batch(n=2, size=128):
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    samples = []
    for _ in range(n):
        s = DetDataSample(metainfo=dict(img_shape=(size, size), pad_shape=(size, size), ori_shape=(size, size),
                                        batch_input_shape=(size, size), scale_factor=(1.0, 1.0)))
        s.gt_instances = InstanceData(bboxes=torch.tensor([[10., 12., 60., 70.], [70., 20., 120., 90.]]),
                                      labels=torch.tensor([0, 2]))
        samples.append(s)
    return torch.randn(n, 3, size, size), samples


@pytest.mark.parametrize('name', ALL)
def test_builds_and_one_loss_step(name):
    import mmdet_ext  # noqa: F401
    from mmdet.registry import MODELS
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet')
    cfg = load(name)
    cfg.model.backbone.init_cfg = None  # torchvision:// is not reachable offline
    if 'coco' in name:  # keep the model, shrink the work: R-18 and few classes
        cfg.model.backbone.depth = 18
        cfg.model.neck[0].in_channels = [64, 128, 256, 512]
    model = MODELS.build(cfg.model)
    model.init_weights()
    torch.manual_seed(0)
    images, samples = _random_batch()
    losses = model.loss(images, samples)
    total = sum(v.sum() if isinstance(v, torch.Tensor) else sum(t.sum() for t in v) for v in losses.values())
    assert torch.isfinite(total)
    total.backward()


def _score_thr_zero(name):
    """The barely trained model still outputs boxes for the metric to score."""
    return 'model.test_cfg.rcnn.score_thr=0.0' if 'rcnn' in name else 'model.test_cfg.score_thr=0.0'


def _assert_trained_and_evaluated(work_dir, iters):
    log = open(glob.glob(osp.join(work_dir, '*', '*.log'))[0]).read()
    assert f'Iter(train) [{iters}/{iters}]' in log and 'coco/bbox_mAP' in log
    assert osp.exists(osp.join(work_dir, f'iter_{iters}.pth'))


@pytest.mark.slow
@pytest.mark.parametrize('name', ON_SHAPES)
def test_shapes_config_trains_and_evaluates(name, tmp_path):
    run_tool('tools/train.py', osp.join(SEPC_DIR, name), '--work-dir', str(tmp_path), '--cfg-options', *TINY,
             _score_thr_zero(name))
    _assert_trained_and_evaluated(str(tmp_path), 4)


@pytest.mark.slow
@pytest.mark.parametrize('name', ON_COCO)
def test_coco_config_trains_and_evaluates_on_embedded_data(name, tmp_path):
    """The COCO configs' models, heads and schedules' optimisers on the embedded `shapes` data
    (COCO and pretrained weights are not on these machines): one iteration, then evaluation."""
    small = tmp_path / 'cfg.py'
    on_embedded_data(osp.join('configs', 'sepc', name), DEMO_CFG, small)
    run_tool('tools/train.py', str(small), '--work-dir', str(tmp_path / 'run'), '--cfg-options', *ONE_ITER,
             _score_thr_zero(name))
    _assert_trained_and_evaluated(str(tmp_path / 'run'), 1)
