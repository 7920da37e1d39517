"""StrongPhotometricAugment: geometry unchanged, seeded, erasing boxes within the spec's ranges."""
import numpy as np
import pytest

from mmdet_ext.datasets.transforms import StrongPhotometricAugment
from mmdet_ext.datasets.transforms.strong_photometric import erase_box


def image(seed=0, h=64, w=80):
    return np.random.RandomState(seed).randint(0, 256, size=(h, w, 3), dtype=np.uint8)


def test_keeps_geometry_and_dtype():
    np.random.seed(0)
    out = StrongPhotometricAugment()(dict(img=image()))['img']
    assert out.shape == (64, 80, 3) and out.dtype == np.uint8


def test_changes_the_image_and_is_seeded():
    img = image()
    np.random.seed(3)
    a = StrongPhotometricAugment()(dict(img=img.copy()))['img']
    np.random.seed(3)
    b = StrongPhotometricAugment()(dict(img=img.copy()))['img']
    assert np.array_equal(a, b)
    assert not np.array_equal(a, img)


def test_all_steps_off_is_the_identity():
    img = image()
    aug = StrongPhotometricAugment(jitter_prob=0., gray_prob=0., blur_prob=0., erasing=())
    assert np.array_equal(aug(dict(img=img.copy()))['img'], img)


def test_grayscale_only_gives_equal_channels():
    aug = StrongPhotometricAugment(jitter_prob=0., gray_prob=1., blur_prob=0., erasing=())
    out = aug(dict(img=image()))['img'].astype(int)
    assert np.abs(out[..., 0] - out[..., 1]).max() <= 1 and np.abs(out[..., 1] - out[..., 2]).max() <= 1


@pytest.mark.parametrize('scale,ratio', [((0.05, 0.2), (0.3, 3.3)), ((0.02, 0.2), (0.1, 6.)), ((0.02, 0.2), (0.05, 8.))])
def test_erase_boxes_follow_scale_and_ratio(scale, ratio):
    rng = np.random.RandomState(0)
    for _ in range(200):
        box = erase_box(200, 300, scale, ratio, rng)
        if box is None:
            continue
        top, left, h, w = box
        assert 0 <= top and top + h <= 200 and 0 <= left and left + w <= 300
        area = h * w / (200 * 300)
        # Rounding h and w to pixels moves the area a little outside the drawn range.
        assert scale[0] * 0.8 <= area <= scale[1] * 1.2
        assert ratio[0] * 0.8 <= h / w <= ratio[1] * 1.25


def test_erasing_only_touches_a_rectangle():
    np.random.seed(0)
    img = np.zeros((64, 64, 3), np.uint8)
    aug = StrongPhotometricAugment(jitter_prob=0., gray_prob=0., blur_prob=0.,
                                   erasing=[dict(prob=1., scale=(0.1, 0.1), ratio=(1., 1.))])
    changed = np.argwhere(aug(dict(img=img))['img'].any(axis=2))
    (y0, x0), (y1, x1) = changed.min(0), changed.max(0)
    assert (y1 - y0 + 1) * (x1 - x0 + 1) == pytest.approx(0.1 * 64 * 64, rel=0.15)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match='uint8'):
        StrongPhotometricAugment()(dict(img=np.zeros((8, 8), np.float32), img_path='x.png'))
    with pytest.raises(KeyError, match='ratio'):
        StrongPhotometricAugment(erasing=[dict(prob=1., scale=(0.1, 0.2))])
