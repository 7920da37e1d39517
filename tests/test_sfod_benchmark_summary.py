"""benchmarks/sfod.py: gates computed from the runs recorded in results.jsonl (a protocol run in pieces)."""
import json
import sys

import pytest

from tests.conftest import ROOT

sys.path.insert(0, ROOT + '/benchmarks')
import sfod  # noqa: E402


def write(path, rows):
    path.write_text(''.join(json.dumps(r) + '\n' for r in rows))


def test_gates_from_pieces(tmp_path):
    results = tmp_path / 'results.jsonl'
    write(results, [
        dict(row='source', ckpt='x.pth', src_on_src=97.0, src_on_tgt=40.0),
        dict(row='mt', seed=0, target_ap50=41.0),         # +1: not a G1 win
        dict(row='mt_lpld', seed=0, target_ap50=44.0),
        dict(row='mt', seed=1, target_ap50=43.0),         # +3
        dict(row='mt', seed=0, target_ap50=42.5),         # a rerun of seed 0 replaces it: +2.5
        dict(row='mt_lpld', seed=1, target_ap50=44.0),
        dict(row='lpld_mechanism', recall_hpl=0.5, recall_hpl_lpl=0.6, lpl_class_precision=0.8, chance=0.3333),
        dict(row='nsa_internal_mse', **{'0': dict(first=2.0, last=1.0)}),
        dict(row='nsa_internal_mse', **{'1': dict(first=2.0, last=2.5)}),
        dict(row='uda_baseline', seed=0, target_ap50=50.0), dict(row='nsa', seed=0, target_ap50=52.0),
    ])
    summary = sfod.summary_from_results(str(results))
    assert summary['per_seed']['mt'] == {'0': 42.5, '1': 43.0}
    assert summary['mt'] == 42.75 and summary['mt_lpld'] == 44.0 and summary['seeds'] == [0, 1]
    gates = summary['gates']
    assert gates['G0'] is True and gates['G1'] is True
    assert gates['G2_lpld'] is True and gates['G3_lpld'] is True
    assert gates['G2_nsa'] is True
    assert gates['G3_nsa'] is False  # seed 1's MSE rose: the merged entries are both checked


def test_failing_gates(tmp_path):
    results = tmp_path / 'results.jsonl'
    write(results, [dict(row='source', ckpt='x.pth', src_on_src=60.0, src_on_tgt=50.0),
                    dict(row='mt', seed=0, target_ap50=50.5), dict(row='mt_lpld', seed=0, target_ap50=51.0)])
    gates = sfod.summary_from_results(str(results))['gates']
    assert gates == dict(G0=False, G1=False, G2_lpld=False)


def test_mixed_recipes_are_refused(tmp_path):
    """Runs made with --cfg-options (a recipe ablation) never enter the same gates as default runs."""
    results = tmp_path / 'results.jsonl'
    write(results, [dict(row='source', ckpt='x.pth', src_on_src=97.0, src_on_tgt=40.0),
                    dict(row='mt', seed=0, target_ap50=50.0),
                    dict(row='mt_lpld', seed=0, target_ap50=52.0, cfg_options=['optim_wrapper.optimizer.lr=0.008'])])
    with pytest.raises(ValueError, match=r"mixes recipes .*lr=0.008.*mt_lpld seed 0"):
        sfod.summary_from_results(str(results))
    write(results, [dict(row='source', ckpt='x.pth', src_on_src=97.0, src_on_tgt=40.0),
                    *(dict(row=r, seed=0, target_ap50=ap, cfg_options=['a=1']) for r, ap in (('mt', 50.0), ('mt_lpld', 52.0)))])
    assert sfod.summary_from_results(str(results))['gates']['G2_lpld'] is True
