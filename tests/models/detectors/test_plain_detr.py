"""Plain DETR: hybrid-matching group mask, decoder isolation, loss / predict, bad input."""
import os.path as osp

import pytest
import torch

from tests.conftest import ROOT

SHAPES_CFG = osp.join(ROOT, 'configs/plain_detr/plain_detr_r18_shapes.py')


def _build(cfg_path=SHAPES_CFG, **overrides):
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    from mmengine.config import Config

    import mmdet_ext  # noqa: F401
    register_all_modules()
    cfg = Config.fromfile(cfg_path)
    cfg.model.update(overrides)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model


def _batch(model, shapes=((3, 256, 256), (3, 224, 192)), training=True):
    from mmdet.testing import demo_mm_inputs
    packed = demo_mm_inputs(len(shapes), [list(s) for s in shapes], num_items=[3, 5][:len(shapes)], num_classes=3)
    return model.data_preprocessor(packed, training)


def test_hybrid_self_attn_mask():
    from mmdet_ext.models.detectors.plain_detr import hybrid_self_attn_mask
    mask = hybrid_self_attn_mask(2, 3)
    expect = torch.tensor([[0, 0, 1, 1, 1], [0, 0, 1, 1, 1], [1, 1, 0, 0, 0], [1, 1, 0, 0, 0], [1, 1, 0, 0, 0]],
                          dtype=torch.bool)
    assert torch.equal(mask, expect)
    assert hybrid_self_attn_mask(4, 0) is None


def test_decoder_groups_do_not_see_each_other():
    """The one-to-one outputs do not depend on the one-to-many queries and equal a test-time
    run with the one-to-one queries alone."""
    from mmdet_ext.models.detectors.plain_detr import hybrid_self_attn_mask
    model = _build().eval()
    dec, reg = model.decoder, model.bbox_head.reg_branches
    d, n1, n2, H, W = model.embed_dims, 4, 6, 4, 5
    torch.manual_seed(1)
    memory, pos = torch.randn(1, H * W, d), torch.randn(1, H * W, d)
    query, ref = torch.randn(1, n1 + n2, d), torch.rand(1, n1 + n2, 4) * 0.5 + 0.2
    kw = dict(memory=memory, memory_pos=pos, key_padding_mask=None, feat_size=(H, W), stride=16,
              valid_ratios=torch.ones(1, 2), reg_branches=reg)
    with torch.no_grad():
        mask = hybrid_self_attn_mask(n1, n2)
        full, _ = dec(query=query, reference_points=ref, self_attn_mask=mask, **kw)
        q2, r2 = query.clone(), ref.clone()
        q2[:, n1:] = torch.randn(1, n2, d)
        r2[:, n1:] = torch.rand(1, n2, 4) * 0.5 + 0.2
        perturbed, _ = dec(query=q2, reference_points=r2, self_attn_mask=mask, **kw)
        alone, _ = dec(query=query[:, :n1], reference_points=ref[:, :n1], self_attn_mask=None, **kw)
        unmasked, _ = dec(query=q2, reference_points=r2, self_attn_mask=None, **kw)
    torch.testing.assert_close(perturbed[:, :, :n1], full[:, :, :n1])
    torch.testing.assert_close(alone, full[:, :, :n1], rtol=1e-5, atol=1e-5)
    assert not torch.allclose(unmasked[:, :, :n1], full[:, :, :n1], atol=1e-4)


@pytest.mark.parametrize('rpb_mode', ['linear', None])
def test_loss_and_predict_on_random_batch(rpb_mode):
    model = _build()
    for layer in model.decoder.layers:
        assert layer.cross_attn.rpb_mode == 'linear'
    if rpb_mode is None:
        model = _build(osp.join(ROOT, 'configs/plain_detr/plain_detr_r18_shapes_no_rpb.py'))
        assert all(layer.cross_attn.rpb_mode is None for layer in model.decoder.layers)
    data = _batch(model)
    model.train()
    losses = model.loss(data['inputs'], data['data_samples'])
    for key in ('loss_cls', 'loss_bbox', 'loss_iou', 'd0.loss_cls', 'o2m_loss_cls', 'o2m_d1.loss_iou',
                'enc_loss_cls', 'enc_loss_bbox'):
        assert key in losses and torch.isfinite(losses[key]), key
    sum(losses.values()).backward()
    if rpb_mode == 'linear':
        for layer in model.decoder.layers:
            assert layer.cross_attn.rpb_mlp_x[2].weight.grad.abs().sum() > 0
            assert layer.cross_attn.rpb_mlp_y[0].weight.grad.abs().sum() > 0
    assert model.query_embedding.weight.grad[50:].abs().sum() > 0  # one-to-many queries trained
    model.eval()
    data = _batch(model, training=False)
    with torch.no_grad():
        head_inputs = model.forward_transformer(model.extract_feat(data['inputs']), data['data_samples'])
        assert head_inputs['hidden_states'].shape[2] == 50  # only the one-to-one queries at test time
        results = model.predict(data['inputs'], data['data_samples'])
    for res in results:
        pred = res.pred_instances
        assert len(pred) == 50 and pred.bboxes.shape == (50, 4) and torch.isfinite(pred.bboxes).all()


def test_feature_stride_mismatch_raises():
    model = _build(feat_stride=8)
    data = _batch(model)
    with pytest.raises(ValueError, match='feature stride 8 does not match the image'):
        model.loss(data['inputs'], data['data_samples'])


def test_too_few_proposals_raises():
    model = _build(num_queries_one2many=2000)
    data = _batch(model, shapes=((3, 128, 128), ))
    with pytest.raises(ValueError, match='need as many proposals'):
        model.loss(data['inputs'], data['data_samples'])
