# MMRotate's runtime (default_scope='mmrotate', RotLocalVisualizer, ...) plus the import that
# registers mmdet_ext; iteration-based logging and checkpoints like default_runtime.py.
_base_ = 'mmrotate::_base_/default_runtime.py'
custom_imports = dict(imports=['mmdet_ext'], allow_failed_imports=False)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20, log_metric_by_epoch=False),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=100, max_keep_ckpts=2,
                    save_last=True))
log_processor = dict(type='LogProcessor', window_size=20, by_epoch=False)
