"""tools/data/cityscapes/foggy_annotations.py on a two-image stand-in of the Cityscapes layout."""
import json
import os

import pytest

from tests.conftest import run_tool

IMAGES = ['aachen/aachen_000000_000019_leftImg8bit.png', 'bonn/bonn_000001_000019_leftImg8bit.png']


def layout(root, with_images=True):
    os.makedirs(root / 'annotations')
    coco = dict(images=[dict(id=i, file_name=n, width=2048, height=1024) for i, n in enumerate(IMAGES)],
                annotations=[dict(id=0, image_id=0, bbox=[1, 2, 30, 40], category_id=24, area=1200, iscrowd=0)],
                categories=[dict(id=24, name='person')])
    (root / 'annotations' / 'instancesonly_filtered_gtFine_val.json').write_text(json.dumps(coco))
    if with_images:
        for name in IMAGES:
            path = root / 'leftImg8bit_foggy' / 'val' / name.replace('.png', '_foggy_beta_0.02.png')
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b'')


def test_renames_and_keeps_boxes(tmp_path):
    layout(tmp_path)
    run_tool('tools/data/cityscapes/foggy_annotations.py', str(tmp_path), '--splits', 'val')
    out = json.loads((tmp_path / 'annotations' / 'instancesonly_filtered_gtFine_val_foggy_beta_0.02.json').read_text())
    assert [i['file_name'] for i in out['images']] == [
        'aachen/aachen_000000_000019_leftImg8bit_foggy_beta_0.02.png',
        'bonn/bonn_000001_000019_leftImg8bit_foggy_beta_0.02.png']
    assert out['annotations'][0]['bbox'] == [1, 2, 30, 40]


def test_missing_images_are_named(tmp_path):
    layout(tmp_path, with_images=False)
    proc = run_tool('tools/data/cityscapes/foggy_annotations.py', str(tmp_path), '--splits', 'val', check=False)
    assert proc.returncode != 0 and '2 of 2 foggy images are missing' in proc.stderr
    assert 'aachen_000000_000019_leftImg8bit_foggy_beta_0.02.png' in proc.stderr


def test_missing_converter_output_is_named(tmp_path):
    proc = run_tool('tools/data/cityscapes/foggy_annotations.py', str(tmp_path), '--splits', 'train', check=False)
    assert proc.returncode != 0 and 'instancesonly_filtered_gtFine_train.json does not exist' in proc.stderr
