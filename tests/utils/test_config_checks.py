import pytest
from mmengine.config import Config

from mmdet_ext.utils import check_data_paths

DEMO = 'configs/demo/atss_r18_fpn_shapes.py'


def test_missing_data_root_names_key_path_and_hint():
    cfg = Config.fromfile(DEMO)
    ds = cfg.val_dataloader.dataset
    ds.pop('generate')
    ds.data_root = '/nonexistent/coco/'
    with pytest.raises(FileNotFoundError) as err:
        check_data_paths(cfg)
    msg = str(err.value)
    assert 'val_dataloader.dataset.data_root' in msg and '/nonexistent/coco/' in msg
    assert 'generate_data.py' in msg


def test_missing_ann_file_in_wrapped_dataset(tmp_path):
    cfg = Config(dict(train_dataloader=dict(dataset=dict(
        type='RepeatDataset', times=2,
        dataset=dict(type='CocoDataset', data_root=str(tmp_path), ann_file='missing.json')))))
    with pytest.raises(FileNotFoundError, match=r'train_dataloader\.dataset\.dataset\.ann_file'):
        check_data_paths(cfg)


def test_generated_datasets_are_not_checked():
    cfg = Config.fromfile(DEMO)
    cfg.train_dataloader.dataset.data_root = '/nonexistent/'
    check_data_paths(cfg)  # generate=... creates the root on first use
