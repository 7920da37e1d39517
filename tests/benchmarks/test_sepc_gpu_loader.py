"""benchmarks/sepc_gpu.py runs on a GPU machine without mmcv / mmengine / mmdet: its loader must
give the very SEPC module the configs build (same parameters, same outputs)."""
import json
import os.path as osp
import subprocess
import sys

import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

CHILD = r'''
import json, runpy, sys
import torch
for name in ('mmdet', 'mmengine', 'mmcv', 'mmrotate'):
    sys.modules[name] = None  # as on the GPU machine: none of them importable
bench = runpy.run_path(sys.argv[1])
SEPC, dcn = bench['import_sepc']()
torch.manual_seed(0)
neck = SEPC(8, 3, ibn=True, extra_deform=True, pconv_deform=True)
torch.nn.init.normal_(neck.cconv.offset_conv.weight, 0, 0.1)
gen = torch.Generator().manual_seed(1)
feats = [torch.randn(1, 8, s, s, generator=gen) for s in (9, 5, 3)]
outs = neck.eval()(feats)
print(json.dumps({'mmdet_loaded': 'mmdet.registry' in sys.modules,
                  'sums': [[float(c.sum()), float(r.sum())] for c, r in outs],
                  'params': sum(p.numel() for p in neck.parameters())}))
'''


def test_loader_without_mmdet_builds_the_package_module():
    out = subprocess.run([sys.executable, '-c', CHILD, osp.join(ROOT, 'benchmarks', 'sepc_gpu.py')],
                         cwd=ROOT, check=True, capture_output=True, text=True).stdout
    child = json.loads(out.strip().splitlines()[-1])
    assert not child['mmdet_loaded']

    from mmdet_ext.models.necks.sepc import SEPC
    torch.manual_seed(0)
    neck = SEPC(8, 3, ibn=True, extra_deform=True, pconv_deform=True)
    torch.nn.init.normal_(neck.cconv.offset_conv.weight, 0, 0.1)
    gen = torch.Generator().manual_seed(1)
    feats = [torch.randn(1, 8, s, s, generator=gen) for s in (9, 5, 3)]
    outs = neck.eval()(feats)
    assert child['params'] == sum(p.numel() for p in neck.parameters())
    for (c_sum, r_sum), (c, r) in zip(child['sums'], outs):
        assert abs(c_sum - float(c.sum())) < 1e-4 and abs(r_sum - float(r.sum())) < 1e-4
