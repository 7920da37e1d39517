"""Every config in configs/ parses; mmdet:: and mmrotate:: bases resolve."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

from tests.conftest import ROOT

CONFIGS = sorted(p for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True))


@pytest.mark.parametrize('path', CONFIGS, ids=[osp.relpath(p, ROOT) for p in CONFIGS])
def test_config_parses(path):
    cfg = Config.fromfile(path)
    if '_base_' not in osp.relpath(path, ROOT).split(osp.sep):
        assert 'mmdet_ext' in cfg.custom_imports['imports']
        assert cfg.default_scope in ('mmdet', 'mmrotate')


@pytest.mark.parametrize('base,scope', [('mmdet::_base_/default_runtime.py', 'mmdet'),
                                        ('mmrotate::rotated_fcos/rotated-fcos-le90_r50_fpn_1x_dota.py', 'mmrotate')])
def test_package_bases_resolve(tmp_path, base, scope):
    cfg_file = tmp_path / 'c.py'
    cfg_file.write_text(f"_base_ = '{base}'\ncustom_imports = dict(imports=['mmdet_ext'])\n")
    assert Config.fromfile(str(cfg_file)).default_scope == scope
