"""The accuracy benchmarks (ATSS / FSAF, SEPC, Plain-DETR) share demo_accuracy.train_and_record:
each run is trained with the requested seed into its own work dir, appended to results.jsonl, and
summarised as <name>_metric / _best / _minutes. Training is replaced by a fake here."""
import json
import os.path as osp
import runpy
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@pytest.fixture
def fake_training(monkeypatch):
    monkeypatch.syspath_prepend(osp.join(ROOT, 'benchmarks'))
    import demo_accuracy
    calls = []

    def train_and_score(config, metric, work_dir, seed=None):
        calls.append(dict(config=config, metric=metric, work_dir=work_dir, seed=seed))
        return 0.5, 0.625, 1.5, [(350, 0.25), (700, 0.5)]

    monkeypatch.setattr(demo_accuracy, 'train_and_score', train_and_score)
    return calls


def run_main(script, argv, monkeypatch, capsys):
    monkeypatch.setattr(sys, 'argv', [script, *argv])
    runpy.run_path(osp.join(ROOT, 'benchmarks', script), run_name='__main__')
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.mark.parametrize('script,run,config', [
    ('atss_fsaf_accuracy.py', 'fsaf_ours', 'configs/fsaf/fsaf_r18_fpn_shapes.py'),
    ('sepc_accuracy.py', 'retina_baseline', 'configs/sepc/retinanet_r18_fpn_shapes.py'),
])
def test_seeded_run_is_trained_recorded_and_summarised(script, run, config, fake_training, tmp_path,
                                                        monkeypatch, capsys):
    summary = run_main(script, ['--only', run, '--seed', '3', '--work-root', str(tmp_path)], monkeypatch, capsys)
    name = f'{run}_seed3'
    assert fake_training == [dict(config=config, metric='coco/bbox_mAP_50', work_dir=str(tmp_path / name), seed=3)]
    assert {k: summary[k] for k in (f'{name}_metric', f'{name}_best', f'{name}_minutes')} == {
        f'{name}_metric': 0.5, f'{name}_best': 0.625, f'{name}_minutes': 1.5}
    records = [json.loads(line) for line in (tmp_path / 'results.jsonl').read_text().splitlines()]
    assert len(records) == 1
    assert records[0]['name'] == name and records[0]['seed'] == 3 and records[0]['final'] == 0.5
    assert records[0]['curve'] == [[350, 0.25], [700, 0.5]]


def test_results_accumulate_across_invocations(fake_training, tmp_path, monkeypatch, capsys):
    for seed in ('1', '2'):
        run_main('atss_fsaf_accuracy.py', ['--only', 'fsaf_mmdet', '--seed', seed, '--work-root', str(tmp_path)],
                 monkeypatch, capsys)
    names = [json.loads(line)['name'] for line in (tmp_path / 'results.jsonl').read_text().splitlines()]
    assert names == ['fsaf_mmdet_seed1', 'fsaf_mmdet_seed2']


def test_plain_detr_seed_goes_to_training_once(fake_training, tmp_path, monkeypatch, capsys):
    """Plain-DETR trains a budget copy of the config; the seed reaches training through
    train_and_score (not written into the copy as well) and is recorded."""
    import demo_accuracy
    fake, texts = demo_accuracy.train_and_score, []

    def reading_fake(config, *args):
        with open(config) as f:  # the budget copy exists only during the run
            texts.append(f.read())
        return fake(config, *args)

    monkeypatch.setattr(demo_accuracy, 'train_and_score', reading_fake)
    summary = run_main('plain_detr_accuracy.py', ['--only', 'plain', '--seed', '3', '--work-root', str(tmp_path)],
                       monkeypatch, capsys)
    [call] = fake_training
    assert 'randomness' not in texts[0]
    assert osp.basename(call['config']) == 'plain_detr_r18_shapes_no_rpb.py' and call['seed'] == 3
    assert call['work_dir'] == str(tmp_path / 'plain')
    assert summary['plain_metric'] == 0.5 and summary['iters'] == 700
    [record] = [json.loads(line) for line in (tmp_path / 'results.jsonl').read_text().splitlines()]
    assert record['seed'] == 3 and record['config'] == 'configs/plain_detr/plain_detr_r18_shapes_no_rpb.py'
