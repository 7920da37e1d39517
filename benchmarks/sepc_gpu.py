"""SEPC on a GPU without mmcv / mmdet (issue 4): RetinaNet-R50's network with plain FPN + head towers
vs each SEPC variant, and our DCNv1 against torchvision's CUDA kernel, in one process.

    python benchmarks/sepc_gpu.py [--reps 20] [--device cuda] [--out result.json]

Why a second script: ``benchmarks/sepc.py`` builds the detectors from mmdet configs, and the GPU
machine lent to some sessions has PyTorch and torchvision but no mmcv / mmengine / mmdet. So the
network is rebuilt here from plain parts with RetinaNet-R50's shapes: torchvision's ResNet-50
(mmdet's ``style='pytorch'`` ResNet is the same layer layout), torchvision's FPN on C3..C5 with P6 /
P7 from C5 (mmdet's ``add_extra_convs='on_input'``), 256 channels, and RetinaNet's head: the
baseline's two 4-conv towers (3x3 + ReLU, no norm: mmdet's ``RetinaHead``) shared over levels,
then the 3x3 prediction convs (9 x 80 class, 9 x 4 box). With SEPC the towers are replaced by our
``SEPC`` neck (``mmdet_ext/models/necks/sepc.py``, the same module the configs build) and the head
keeps only the prediction convs, as ``SEPCRetinaHead`` does. Post-processing (NMS) is left out, as
in ``benchmarks/sepc.py``.

Measured: batch 2 (``--batch``) at 512 x 512 and 800 x 1344 (800 x 1333 padded to 32, as mmdet's data
preprocessor does), eval mode, ``torch.no_grad``, float32 with PyTorch's default math settings (TF32
off for matrix products, cuDNN's default for convolutions); medians of ``--reps`` CUDA-event timed
passes after warm-ups, the models alternating within each repetition; peak memory is
``torch.cuda.max_memory_allocated`` during one pass minus the memory held before it. DCN: forward
and forward + backward at 2 x 256 x 50 x 84 (P4 of 800 x 1333): ours (``deform_conv2d_torch``;
``deform_conv2d_torchvision``, torchvision's kernel with mmcv's gradient rule, which
``dcn_impl='auto'`` uses on GPU) vs ``torchvision.ops.deform_conv2d`` as is vs a plain 3x3 conv,
and the largest output difference of ours and torchvision's.

Last line: one JSON object with ``lite_time_ratio``, ``sepc_time_ratio``, ``pconv_time_ratio``,
``ibn_pconv_time_ratio`` (variant / baseline, the worse of the two settings) and the details.
"""
import argparse
import importlib
import json
import os.path as osp
import statistics
import sys
import types

import torch
import torch.nn.functional as F
from torch import nn

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SETTINGS = {'b2_512': (2, 512, 512), 'b2_800x1333': (2, 800, 1344)}
VARIANTS = {  # name -> SEPC flags (mmdet_ext/models/necks/sepc.py's table)
    'pconv': dict(),
    'ibn_pconv': dict(ibn=True),
    'lite': dict(ibn=True, extra_deform=True),
    'sepc': dict(ibn=True, extra_deform=True, pconv_deform=True),
}


def import_sepc():
    """(SEPC, the DCN module ``sepc_deform_conv``). With mmdet installed, the package as usual; otherwise the two
    pure-PyTorch files are loaded by path, with the neck's two framework names (mmengine's
    ``BaseModule``, our ``register`` decorator) given plain stand-ins: the neck uses BaseModule
    only for ``init_cfg`` bookkeeping, which this script does not use."""
    try:
        from mmdet_ext.models.layers import sepc_deform_conv
        from mmdet_ext.models.necks.sepc import SEPC
        return SEPC, sepc_deform_conv
    except ImportError:
        pass
    for name in ('mmdet_ext', 'mmdet_ext.models', 'mmdet_ext.models.layers', 'mmdet_ext.models.necks'):
        package = types.ModuleType(name)  # a namespace without running the package's __init__
        package.__path__ = [osp.join(ROOT, *name.split('.'))]
        sys.modules.setdefault(name, package)

    class BaseModule(nn.Module):
        def __init__(self, init_cfg=None):
            super().__init__()

        def init_weights(self):
            pass

    stand_ins = {'mmengine': {}, 'mmengine.model': {'BaseModule': BaseModule},
                 'mmdet_ext.registry': {'register': lambda kind, name=None: (lambda cls: cls)}}
    for name, attrs in stand_ins.items():
        if sys.modules.get(name) is None:
            module = types.ModuleType(name)
            module.__dict__.update(attrs)
            sys.modules[name] = module
    sepc = importlib.import_module('mmdet_ext.models.necks.sepc')
    dcn = importlib.import_module('mmdet_ext.models.layers.sepc_deform_conv')
    return sepc.SEPC, dcn


class RetinaNetR50(nn.Module):
    """ResNet-50 + FPN (P3..P7, 256 channels) + RetinaNet's head, or SEPC + prediction convs.

    Forward: images (N, 3, H, W) -> list over levels of (class logits (N, 720, H_l, W_l),
    box deltas (N, 36, H_l, W_l)).
    """

    def __init__(self, sepc_cls=None, sepc_flags=None, num_classes: int = 80, num_anchors: int = 9):
        super().__init__()
        from torchvision.models import resnet50
        from torchvision.ops import FeaturePyramidNetwork
        from torchvision.ops.feature_pyramid_network import LastLevelP6P7
        self.body = resnet50()
        self.fpn = FeaturePyramidNetwork([512, 1024, 2048], 256, extra_blocks=LastLevelP6P7(2048, 256))
        self.sepc = sepc_cls(256, 5, **sepc_flags) if sepc_cls is not None else None
        if self.sepc is None:
            self.cls_tower = nn.Sequential(*[m for _ in range(4) for m in (nn.Conv2d(256, 256, 3, padding=1),
                                                                           nn.ReLU(inplace=True))])
            self.reg_tower = nn.Sequential(*[m for _ in range(4) for m in (nn.Conv2d(256, 256, 3, padding=1),
                                                                           nn.ReLU(inplace=True))])
        self.cls_out = nn.Conv2d(256, num_anchors * num_classes, 3, padding=1)
        self.reg_out = nn.Conv2d(256, num_anchors * 4, 3, padding=1)

    def forward(self, images):
        b = self.body
        x = b.maxpool(b.relu(b.bn1(b.conv1(images))))
        c2 = b.layer1(x)
        c3 = b.layer2(c2)
        c4 = b.layer3(c3)
        c5 = b.layer4(c4)
        pyramid = list(self.fpn({'c3': c3, 'c4': c4, 'c5': c5}).values())
        if self.sepc is None:
            pairs = [(self.cls_tower(p), self.reg_tower(p)) for p in pyramid]
        else:
            pairs = self.sepc(pyramid)
        return [(self.cls_out(c), self.reg_out(r)) for c, r in pairs]


def cuda_time(fn, reps: int, device: torch.device) -> list:
    """Per-call milliseconds of ``fn`` (CUDA events on a GPU, perf_counter elsewhere)."""
    import time
    out = []
    for _ in range(reps):
        if device.type == 'cuda':
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize()
            out.append(start.elapsed_time(end))
        else:
            t = time.perf_counter()
            fn()
            out.append((time.perf_counter() - t) * 1e3)
    return out


def bench_models(sepc_cls, device, reps: int, settings, batch: int, dcn_impl: str) -> dict:
    torch.manual_seed(0)
    models = {'baseline': RetinaNetR50()}
    for name, flags in VARIANTS.items():
        torch.manual_seed(0)
        models[name] = RetinaNetR50(sepc_cls, dict(flags, dcn_impl=dcn_impl))
    for model in models.values():
        model.to(device).eval()
    result = {}
    for setting in settings:
        _, h, w = SETTINGS[setting]
        images = torch.randn(batch, 3, h, w, generator=torch.Generator().manual_seed(1)).to(device)
        times = {name: [] for name in models}
        memory = {}
        with torch.no_grad():
            for name, model in models.items():
                for _ in range(3):
                    model(images)  # warm-up (cuDNN algorithm choice, allocator)
                if device.type == 'cuda':
                    torch.cuda.synchronize()
                    held = torch.cuda.memory_allocated()
                    torch.cuda.reset_peak_memory_stats()
                    model(images)
                    torch.cuda.synchronize()
                    memory[name] = round((torch.cuda.max_memory_allocated() - held) / 2 ** 20, 1)
            for _ in range(reps):
                for name, model in models.items():
                    times[name] += cuda_time(lambda: model(images), 1, device)
        median = {name: statistics.median(v) for name, v in times.items()}
        result[setting] = {
            'ms': {k: round(v, 2) for k, v in median.items()},
            'ratio': {k: round(median[k] / median['baseline'], 3) for k in VARIANTS},
            'peak_extra_mib': memory,
        }
        print(setting, json.dumps(result[setting]), flush=True)
    return result


def bench_dcn(dcn, device, reps: int) -> dict:
    """Our DCNv1s (pure PyTorch; torchvision's kernel with mmcv's gradient rule) vs torchvision's
    kernel as is vs a plain conv at 2 x 256 x 50 x 84, fwd and fwd + bwd."""
    from torchvision.ops import deform_conv2d as tv_deform_conv2d
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 256, 50, 84, generator=gen).to(device)
    weight = (torch.randn(256, 256, 3, 3, generator=gen) * 0.01).to(device)
    offset = (torch.randn(2, 18, 50, 84, generator=gen) * 2).to(device)  # non-integer positions
    impls = {
        'plain_conv': lambda x, o, w: F.conv2d(x, w, padding=1),
        'ours': lambda x, o, w: dcn.deform_conv2d_torch(x, o, w, 1, 1),
        'ours_torchvision': lambda x, o, w: dcn.deform_conv2d_torchvision(x, o, w, 1, 1),
        'torchvision': lambda x, o, w: tv_deform_conv2d(x, o, w, padding=1),
    }
    out = {'max_abs_diff_ours_vs_torchvision': float(
        (impls['ours'](x, offset, weight) - impls['torchvision'](x, offset, weight)).abs().max())}
    for name, fn in impls.items():
        with torch.no_grad():
            for _ in range(3):
                fn(x, offset, weight)
            out[f'{name}_fwd_ms'] = round(statistics.median(cuda_time(lambda: fn(x, offset, weight), reps,
                                                                      device)), 3)
        xg, og, wg = (t.clone().requires_grad_(True) for t in (x, offset, weight))

        def step():
            fn(xg, og, wg).sum().backward()

        for _ in range(3):
            step()
        out[f'{name}_fwd_bwd_ms'] = round(statistics.median(cuda_time(step, reps, device)), 3)
    print('dcn', json.dumps(out), flush=True)
    return out


def profile_lite(sepc_cls, device, setting: str, batch: int, dcn_impl: str) -> None:
    from torch.profiler import ProfilerActivity, profile
    torch.manual_seed(0)
    model = RetinaNetR50(sepc_cls, dict(VARIANTS['lite'], dcn_impl=dcn_impl)).to(device).eval()
    _, h, w = SETTINGS[setting]
    images = torch.randn(batch, 3, h, w, device=device)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == 'cuda' else [])
    with torch.no_grad():
        model(images)
        with profile(activities=activities) as prof:
            model(images)
            if device.type == 'cuda':
                torch.cuda.synchronize()
    key = 'self_cuda_time_total' if device.type == 'cuda' else 'self_cpu_time_total'
    print(prof.key_averages().table(sort_by=key, row_limit=15), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--reps', type=int, default=20)
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--settings', nargs='+', default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--dcn-impl', default='auto', choices=['auto', 'torch', 'torchvision'],
                        help="SEPC's DCN kernel ('auto': torchvision's on GPU, ours on CPU)")
    parser.add_argument('--out', help='also write the last JSON line to this file')
    parser.add_argument('--tf32', action='store_true',
                        help='allow TF32 in matrix products too (cuDNN convolutions allow it by default)')
    parser.add_argument('--profile', action='store_true',
                        help="print torch.profiler's top operators of SEPC-lite at the last setting")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    sepc_cls, dcn = import_sepc()
    summary = {'device': torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu',
               'torch': torch.__version__, 'reps': args.reps, 'tf32_matmul': args.tf32,
               'batch': args.batch, 'dcn_impl': args.dcn_impl}
    summary['dcn'] = bench_dcn(dcn, device, args.reps)
    summary['models'] = bench_models(sepc_cls, device, args.reps, args.settings, args.batch, args.dcn_impl)
    for name in VARIANTS:
        summary[f'{name}_time_ratio'] = max(summary['models'][s]['ratio'][name] for s in args.settings)
    if args.profile:
        profile_lite(sepc_cls, device, args.settings[-1], args.batch, args.dcn_impl)
    line = json.dumps(summary)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(line + '\n')
    print(line)


if __name__ == '__main__':
    main()
