"""tools/analysis_tools/anchor_coverage.py: anchor coverage of a config's training objects."""
import pytest
import torch

from tools.analysis_tools.anchor_coverage import coverage, main

ROT_RETINANET = 'configs/atss/rotated_retinanet_r18_fpn_shapes_rot.py'


def test_coverage_figures():
    best = torch.tensor([0.2, 0.45, 0.5, 0.9])
    result = coverage(best, torch.tensor([0, 0, 1, 5]), pos_iou_thr=0.5)
    assert result == dict(objects=4, mean_best_iou=0.5125, pos_iou_thr=0.5, frac_best_ge_pos_thr=0.5,
                          frac_best_ge_0_4=0.75, positives_per_object=1.5)
    with pytest.raises(ValueError, match='no objects'):
        coverage(torch.zeros(0), torch.zeros(0), 0.5)


def test_smaller_anchors_cover_shapes_rot_better(capsys):
    """mmrotate's DOTA anchors (octave_base_scale 4) vs anchors sized for shapes-rot's 16-96 px
    objects (2), rotated IoU, the same images: the sized ones match more objects at >= 0.4."""
    dota = main([ROT_RETINANET, '--num-images', '8'])
    sized = main([ROT_RETINANET, '--num-images', '8',
                  '--cfg-options', 'model.bbox_head.anchor_generator.octave_base_scale=2'])
    assert dota['objects'] == sized['objects'] > 0
    assert sized['frac_best_ge_0_4'] > dota['frac_best_ge_0_4']
    assert sized['mean_best_iou'] > dota['mean_best_iou']
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith('{"objects"')


def test_anchor_free_config_is_refused():
    with pytest.raises(KeyError, match='anchor_generator'):
        main(['configs/demo/rotated_fcos_r18_fpn_shapes_rot.py', '--num-images', '1'])
