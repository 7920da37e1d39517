# One-variable ablation of NSA on `shapes-fog`: the consistency losses added with factor 0.01
# instead of the spec's 0.1. Why: on shapes-fog the weighted NSA terms (~2.8 at the start, the
# internal MSE of instance-normalised maps ~1.6) are about 3x the detection losses (~1.0).
_base_ = ['../nsa_faster-rcnn_r18_fpn_shapes-fog.py']

model = dict(adaptations=[dict(type='NSAConsistencyLoss', num_proposals=128, min_visible=0.6, min_size=10.,
                               max_area_frac=0.75, fg_iou=0.5, roi_bg_weight=0.01, weights=dict(factor=0.01))])
