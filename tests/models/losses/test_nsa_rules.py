"""NSA's pure rules (specs/sfod.md section 3): round trips, dropping rules, warping back, flip
equivariance, consistency terms, prototype contrast, loss weights; the light-disturbance transform."""
import math

import numpy as np
import pytest
import torch

from mmdet_ext.models.losses.nsa_rules import (
    axis_scales, box_label_map, box_mask, combine_nsa_terms, drop_mapped_boxes, flip_matrix,
    flip_roi_feats, instance_norm, map_boxes, masked_mse, prototype_contrast, roi_deltas_to_reference,
    rpn_deltas_to_reference, salient_peak_mask, scale_translate_matrix, warp_to_reference,
    weighted_roi_mse)

BOXES = torch.tensor([[10., 20., 60., 90.], [100., 5., 180., 40.], [0., 0., 255., 255.]])


@pytest.mark.parametrize('matrix', [
    flip_matrix(256, 256, 'horizontal'), flip_matrix(256, 256, 'vertical'),
    scale_translate_matrix(0.9, 0.9), scale_translate_matrix(1.1, 1.07),
    scale_translate_matrix(1., 1., 13.5, -7.25), scale_translate_matrix(0.93, 0.93, -11., 4.),
    flip_matrix(240, 240) @ scale_translate_matrix(0.94, 0.94, 9., 3.)], ids=str)
def test_transform_then_inverse_is_identity_within_one_pixel(matrix):
    there = map_boxes(BOXES, matrix)
    back = map_boxes(there, torch.linalg.inv(matrix))
    assert (back - BOXES).abs().max() <= 1.
    assert torch.all(there[:, 2:] >= there[:, :2])  # still xyxy after a flip


def _square_image(box, size=256):
    img = np.zeros((size, size, 3), dtype=np.uint8)
    x1, y1, x2, y2 = box
    img[y1:y2, x1:x2] = 255
    return img


def _bright_box(img):
    ys, xs = np.nonzero(img[..., 0] > 127)
    return torch.tensor([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=torch.float32)


@pytest.mark.parametrize('pipeline', [
    [dict(type='RandomFlip', prob=1.0, direction='horizontal')],
    [dict(type='RandomFlip', prob=1.0, direction='vertical')],
    [dict(type='Resize', scale=(230, 230), keep_ratio=True)],
    [dict(type='NSALightDisturb', scale_range=(0.9, 1.1), max_shift=0.0625, flip_prob=0.0)],
    [dict(type='NSALightDisturb', scale_range=(1.0, 1.0), max_shift=0.0625, flip_prob=1.0)],
    [dict(type='NSALightDisturb', scale_range=(0.9, 1.1), max_shift=0.0625, flip_prob=0.5)],
], ids=['hflip', 'vflip', 'resize', 'light-resize-shift', 'light-shift-flip', 'light-any'])
def test_recorded_homography_of_real_transforms_round_trips(pipeline):
    """The image content moves where the recorded homography says, and back (+-1 px)."""
    import mmdet_ext  # noqa: F401
    from mmcv.transforms import Compose
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet')
    np.random.seed(3)
    box = (70, 90, 150, 170)
    for _ in range(5):
        results = Compose(pipeline)(dict(img=_square_image(box), img_shape=(256, 256), ori_shape=(256, 256)))
        matrix = torch.as_tensor(results['homography_matrix'], dtype=torch.float32)
        mapped = map_boxes(torch.tensor([box], dtype=torch.float32), matrix)[0]
        assert (mapped - _bright_box(results['img'])).abs().max() <= 1., pipeline
        back = map_boxes(mapped[None], torch.linalg.inv(matrix))[0]
        assert (back - torch.tensor(box, dtype=torch.float32)).abs().max() <= 1.


def test_light_disturb_bad_arguments_are_named():
    from mmdet_ext.datasets.transforms.nsa_light_disturb import NSALightDisturb
    with pytest.raises(ValueError, match='scale_range'):
        NSALightDisturb(scale_range=(1.2, 1.1))
    with pytest.raises(ValueError, match='max_shift'):
        NSALightDisturb(max_shift=0.7)


def test_box_dropping_rules():
    hw = (200, 200)
    mapped = torch.tensor([
        [20., 20., 80., 80.],      # inside: kept
        [-30., 20., 30., 80.],     # 50 % visible: dropped
        [-18., 20., 42., 80.],     # 70 % visible: kept (clipped to x1 = 0)
        [50., 50., 59., 90.],      # 9 px wide: dropped
        [50., 50., 60., 90.],      # 10 px wide: kept
        [0., 0., 190., 190.],      # 90 % of the image: dropped
        [0., 0., 170., 170.],      # 72 % of the image: kept
        [250., 250., 300., 300.],  # outside: dropped
    ])
    clipped, keep = drop_mapped_boxes(mapped, hw, min_visible=0.6, min_size=10., max_area_frac=0.75)
    assert keep.tolist() == [True, False, True, False, True, False, True, False]
    assert clipped[2].tolist() == [0., 20., 42., 80.]
    assert (clipped >= 0).all() and (clipped <= 200).all()


def test_warp_identity_is_exact_and_all_valid():
    feat = torch.randn(2, 5, 8, 10)
    eye = torch.eye(3).expand(2, 3, 3)
    warped, valid = warp_to_reference(feat, eye, (8, 10), 8., 8.)
    assert torch.allclose(warped, feat, atol=1e-5)
    assert valid.min() == 1


@pytest.mark.parametrize('direction,dim', [('horizontal', -1), ('vertical', -2), ('diagonal', (-2, -1))])
def test_flip_equivariance_of_warping_back(direction, dim):
    """A flipped view's map warped back with the flip homography is the reference map."""
    stride, h, w = 16., 6, 9
    ref = torch.randn(1, 4, h, w)
    view = ref.flip(dim if isinstance(dim, tuple) else (dim,))
    matrix = flip_matrix(w * stride, h * stride, direction)[None]
    warped, valid = warp_to_reference(view, matrix, (h, w), stride, stride)
    assert torch.allclose(warped, ref, atol=1e-5)
    assert valid.min() == 1


def test_warping_back_a_translated_and_resized_view():
    """A linear ramp f(x, y) = x + 2y (pixels) seen through x' = s x + t is recovered in the interior."""
    stride = 8.
    ref_h, ref_w = 16, 16
    s, tx, ty = 1.1, 12., -6.

    def ramp(h, w, st, fn):
        ys = (torch.arange(h) + 0.5) * st
        xs = (torch.arange(w) + 0.5) * st
        gy, gx = torch.meshgrid(ys, xs, indexing='ij')
        return fn(gx, gy)[None, None]

    ref = ramp(ref_h, ref_w, stride, lambda x, y: x + 2 * y)
    view = ramp(20, 20, stride, lambda x, y: (x - tx) / s + 2 * (y - ty) / s)  # view pixel -> ref value
    matrix = scale_translate_matrix(s, s, tx, ty)[None]
    warped, valid = warp_to_reference(view, matrix, (ref_h, ref_w), stride, stride, [(20 * 8, 20 * 8)])
    inner = torch.zeros_like(valid, dtype=torch.bool)
    inner[..., 2:-2, 2:-2] = True
    assert torch.allclose(warped[inner & (valid > 0)], ref[inner & (valid > 0)], atol=1e-3)
    # A shift out of the view leaves invalid cells.
    _, valid_out = warp_to_reference(view, scale_translate_matrix(1., 1., -40., 0.)[None], (ref_h, ref_w),
                                     stride, stride, [(128, 128)])
    assert valid_out[0, 0, :, :4].sum() == 0 and valid_out[0, 0, :, 6:].min() == 1


def test_delta_maps_to_reference():
    deltas = torch.tensor([0.3, -0.2, 0.1, 0.4]).reshape(1, 4, 1, 1).repeat(2, 3, 2, 2)  # 3 anchors
    scales = torch.tensor([[-1., 1.], [1.1, 0.9]])
    out = rpn_deltas_to_reference(deltas, scales).reshape(2, 3, 4, 2, 2)
    assert torch.allclose(out[0, :, :, 0, 0], torch.tensor([-0.3, -0.2, 0.1, 0.4]).expand(3, 4))
    assert torch.allclose(out[1, 0, :, 0, 0], torch.tensor([0.3 / 1.1, -0.2 / 0.9, 0.1 - math.log(1.1),
                                                            0.4 - math.log(0.9)]))
    roi = torch.tensor([[0.3, -0.2, 0.1, 0.4, 1., 2., 3., 4.]])
    assert torch.equal(roi_deltas_to_reference(roi, torch.tensor([[-1.05, 1.]])),
                       torch.tensor([[-0.3, -0.2, 0.1, 0.4, -1., 2., 3., 4.]]))
    assert torch.equal(axis_scales(flip_matrix(10, 10)[None]), torch.tensor([[-1., 1.]]))
    feats = torch.randn(2, 3, 7, 7)
    back = flip_roi_feats(feats, torch.tensor([[-1., 1.], [1., -1.]]))
    assert torch.equal(back[0], feats[0].flip(-1)) and torch.equal(back[1], feats[1].flip(-2))


def test_masks():
    boxes = [torch.tensor([[0., 0., 16., 16.]]), torch.zeros((0, 4))]
    m = box_mask(boxes, (4, 4), 8.)
    assert m[0, 0].sum() == 4 and m[0, 0, :2, :2].min() == 1 and m[1].sum() == 0
    labels = box_label_map([torch.tensor([[0., 0., 32., 32.], [0., 0., 16., 16.]])],
                           [torch.tensor([0, 2])], (4, 4), 8., background=3)
    assert labels[0, 0, 0] == 2 and labels[0, 3, 3] == 0  # the smaller box wins where both cover
    feat = torch.zeros(1, 2, 6, 6)
    feat[0, :, 2, 3] = 5.
    peaks = salient_peak_mask(feat)
    assert peaks.sum() == 1 and peaks[0, 0, 2, 3] == 1


def test_identical_inputs_give_zero_terms():
    x = torch.randn(2, 8, 5, 5)
    w = torch.ones(2, 1, 5, 5)
    assert masked_mse(instance_norm(x), instance_norm(x.clone()), w) == 0
    assert weighted_roi_mse(x, x.clone(), torch.tensor([1., 0.01])) == 0
    # No weight at all: a zero that keeps the graph.
    y = torch.randn(2, 8, 5, 5, requires_grad=True)
    zero = masked_mse(x, y, torch.zeros(2, 1, 5, 5))
    assert zero.item() == 0 and zero.requires_grad
    # A weighted value by hand.
    a, b = torch.zeros(1, 2, 1, 2), torch.tensor([[[[1., 3.]], [[1., 3.]]]])
    assert masked_mse(a, b, torch.tensor([[[[1., 0.]]]])).item() == pytest.approx(1.)


def test_prototype_contrast_by_hand():
    """Two classes, 2-d features: centres e_x and e_y; one background teacher feature."""
    teacher = torch.tensor([[1., 0.], [0., 1.], [-1., 0.]])
    student = torch.tensor([[1., 0.], [0., 2.], [0., -1.]])
    labels = torch.tensor([0, 1, 2])  # 2 = background (num_classes 2)
    loss = prototype_contrast(student, teacher, labels, num_classes=2, num_hard_background=2,
                              background_weight=0.1, negative_scale=2.)
    # sample 0: pos = 1, negative centre cos 0, background cos -1
    l0 = -(1 - math.log(math.e + 2 * (1. + 0.1 * math.exp(-1))))
    # sample 1: pos = 1, negative centre cos 0, background cos 0
    l1 = -(1 - math.log(math.e + 2 * (1. + 0.1)))
    assert loss.item() == pytest.approx((l0 + l1) / 2, rel=1e-5)
    # Aligned students score lower than misaligned ones; no foreground -> 0 attached to the graph.
    swapped = prototype_contrast(student[[1, 0, 2]], teacher, labels, 2)
    assert swapped > loss
    s = torch.randn(3, 2, requires_grad=True)
    zero = prototype_contrast(s, teacher, torch.tensor([2, 2, 2]), 2)
    assert zero.item() == 0 and zero.requires_grad
    with pytest.raises(ValueError, match='pair up'):
        prototype_contrast(torch.randn(3, 2), torch.randn(2, 2), labels, 2)


def test_loss_weights():
    ones = {k: torch.tensor(1.) for k in ('mse_pix', 'contrast_pix', 'mse_ins', 'contrast_ins',
                                          'eca_maps', 'eca_vectors')}
    out = combine_nsa_terms(ones)
    # L = 6 (pix + ins + 0.1 out), x 0.1: pix = 2 + 0.1, ins = 1 + 0.1, out = 1 + 1.
    assert out['loss_nsa_pix'].item() == pytest.approx(0.6 * 2.1)
    assert out['loss_nsa_ins'].item() == pytest.approx(0.6 * 1.1)
    assert out['loss_nsa_out'].item() == pytest.approx(0.6 * 0.1 * 2)
    terms = dict(mse_pix=torch.tensor(0.5), contrast_pix=torch.tensor(2.), mse_ins=torch.tensor(0.25),
                 contrast_ins=torch.tensor(3.), eca_maps=torch.tensor(0.1), eca_vectors=torch.tensor(0.3))
    total = sum(combine_nsa_terms(terms).values())
    expected = 0.1 * 6 * ((2 * 0.5 + 0.1 * 2) + (0.25 + 0.1 * 3) + 0.1 * (0.1 + 0.3))
    assert total.item() == pytest.approx(expected)
    with pytest.raises(KeyError, match='unknown NSA weights'):
        combine_nsa_terms(ones, dict(mse_pixel=1.))
