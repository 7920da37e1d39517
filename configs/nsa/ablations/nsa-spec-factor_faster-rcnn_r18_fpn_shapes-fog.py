# One-variable ablation of NSA on `shapes-fog`: the consistency losses added with the spec's factor
# 0.1 (L = 6 (pix + ins + 0.1 out) x 0.1) instead of this dataset's 0.01. With 0.1 the weighted NSA
# terms (~2.8 at the start) are about 3x the detection losses (~1.0) and NSA falls 5-7 points
# below its baseline (configs/nsa/README.md).
_base_ = ['../nsa_faster-rcnn_r18_fpn_shapes-fog.py']

model = dict(adaptations=[dict(type='NSAConsistencyLoss', num_proposals=128, min_visible=0.6, min_size=10.,
                               max_area_frac=0.75, fg_iou=0.5, roi_bg_weight=0.01, weights=dict(factor=0.1))])
