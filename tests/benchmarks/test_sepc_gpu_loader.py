"""benchmarks/sepc_gpu.py runs on a GPU machine without mmcv / mmengine / mmdet: its loader must
give the very SEPC module the configs build (same parameters, same outputs)."""
import json
import os.path as osp
import subprocess
import sys

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

# argv: path of sepc_gpu.py, then 'blocked' (as on the GPU machine: the frameworks unimportable,
# SEPC through the script's loader) or 'package' (SEPC imported from mmdet_ext as usual).
CHILD = r'''
import json, runpy, sys
import torch
if sys.argv[2] == 'blocked':
    for name in ('mmdet', 'mmengine', 'mmcv', 'mmrotate'):
        sys.modules[name] = None
    SEPC = runpy.run_path(sys.argv[1])['import_sepc']()[0]
else:
    from mmdet_ext.models.necks.sepc import SEPC
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


def _run(mode: str) -> dict:
    out = subprocess.run([sys.executable, '-c', CHILD, osp.join(ROOT, 'benchmarks', 'sepc_gpu.py'), mode],
                         cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_loader_without_mmdet_builds_the_package_module():
    blocked, package = _run('blocked'), _run('package')
    assert not blocked['mmdet_loaded'] and package['mmdet_loaded']
    assert blocked['params'] == package['params']
    for (c_blocked, r_blocked), (c_package, r_package) in zip(blocked['sums'], package['sums'], strict=True):
        assert abs(c_blocked - c_package) < 1e-4 and abs(r_blocked - r_package) < 1e-4
