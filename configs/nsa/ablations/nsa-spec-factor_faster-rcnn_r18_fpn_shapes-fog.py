# One-variable ablation of NSA on `shapes-fog`: the consistency losses added with the spec's factor
# 0.1 (L = 6 (pix + ins + 0.1 out) x 0.1) instead of this dataset's 0.01. With 0.1 the weighted NSA
# terms (~2.8 at the start) are about 3x the detection losses (~1.0) and NSA ended 4.9 / 7.5
# points below its baseline (seeds 0 / 1; configs/nsa/README.md).
_base_ = ['../nsa_faster-rcnn_r18_fpn_shapes-fog.py']

nsa_loss = _base_.model.adaptations[0]
nsa_loss.weights = dict(factor=0.1)
model = dict(adaptations=[nsa_loss])
