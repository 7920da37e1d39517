"""Synthetic dataset generators: determinism, formats, geometry, domain shift, ensure_dataset."""
import hashlib
import json
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest

from mmdet_ext.datasets.synthetic import (ensure_dataset, generate_shapes, generate_shapes_fog,
                                          generate_shapes_rot)

N = 6  # images per split: keep the tests fast
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def tree_hashes(root):
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = osp.join(dirpath, name)
            with open(path, 'rb') as f:
                out[osp.relpath(path, root)] = hashlib.sha256(f.read()).hexdigest()
    return out


def small_shapes(out, seed=0):
    generate_shapes(str(out), seed=seed, num_train=N, num_val=2, num_test=2)


def small_rot(out, seed=0):
    generate_shapes_rot(str(out), seed=seed, num_train=N, num_val=2)


def small_fog(out, seed=0):
    generate_shapes_fog(str(out), seed=seed, num_source_train=N, num_source_test=2,
                        num_target_train=N, num_target_test=2)


@pytest.mark.parametrize('gen', [small_shapes, small_rot, small_fog])
def test_same_seed_same_bytes_other_seed_differs(tmp_path, gen):
    gen(tmp_path / 'a', seed=0)
    gen(tmp_path / 'b', seed=0)
    gen(tmp_path / 'c', seed=1)
    a, b, c = (tree_hashes(tmp_path / k) for k in 'abc')
    assert len(a) > N and a == b
    assert a.keys() == c.keys()
    pngs = [k for k in a if k.endswith('.png')]
    assert all(a[k] != c[k] for k in pngs)


def check_coco(ann_file, img_dir, size_range, img_size=256):
    from pycocotools.coco import COCO
    coco = COCO(ann_file)
    cats = coco.loadCats(coco.getCatIds())
    assert [(c['id'], c['name']) for c in cats] == [(1, 'rectangle'), (2, 'ellipse'),
                                                   (3, 'triangle')]
    lo, hi = size_range
    for img_id in coco.getImgIds():
        info = coco.loadImgs(img_id)[0]
        assert (info['width'], info['height']) == (img_size, img_size)
        img = cv2.imread(osp.join(img_dir, info['file_name']))
        assert img is not None and img.shape == (img_size, img_size, 3)
        anns = coco.loadAnns(coco.getAnnIds(imgIds=img_id))
        assert 1 <= len(anns) <= 8
        for ann in anns:
            x, y, w, h = ann['bbox']
            assert ann['iscrowd'] == 0 and ann['category_id'] in (1, 2, 3)
            assert ann['area'] == pytest.approx(w * h, abs=0.05)
            assert x >= 0 and y >= 0 and x + w <= img_size + 1e-6 and y + h <= img_size + 1e-6
            assert lo - 0.01 <= min(w, h) and max(w, h) <= hi + 0.01
    return coco


def test_shapes_coco_format(tmp_path):
    small_shapes(tmp_path)
    for split in ('train', 'val', 'test'):
        check_coco(str(tmp_path / 'annotations' / f'instances_{split}.json'),
                   str(tmp_path / split), (12, 96))
    with open(tmp_path / 'annotations' / 'instances_train.json') as f:
        text = f.read()
    assert json.loads(text)['images'][0]['file_name'] == '000001.png'


def test_objects_are_visible(tmp_path):
    """Pixels just inside each box differ from the background ring just outside it."""
    small_shapes(tmp_path)
    coco = check_coco(str(tmp_path / 'annotations' / 'instances_train.json'),
                      str(tmp_path / 'train'), (12, 96))
    diffs = []
    for img_id in coco.getImgIds():
        info = coco.loadImgs(img_id)[0]
        img = cv2.imread(str(tmp_path / 'train' / info['file_name'])).astype(np.float32)
        for ann in coco.loadAnns(coco.getAnnIds(imgIds=img_id)):
            x, y, w, h = ann['bbox']
            cx, cy = x + w / 2, y + h / 2
            # centre of the object (every shape covers its box centre region except thin
            # triangles; use a small window) vs the mean of the image
            inner = img[int(cy) - 1:int(cy) + 2, int(cx) - 1:int(cx) + 2].reshape(-1, 3).mean(0)
            ring = np.concatenate([img[max(int(y) - 3, 0):max(int(y) - 1, 0), int(x):int(x + w)]
                                   .reshape(-1, 3),
                                   img[int(y + h) + 1:int(y + h) + 3, int(x):int(x + w)]
                                   .reshape(-1, 3)])
            if len(ring):
                diffs.append(np.linalg.norm(inner - ring.mean(0)))
    assert len(diffs) >= N
    assert np.median(diffs) > 40


def test_rendered_object_differs_from_background():
    """Each object changes most of its box relative to the same image's bare background."""
    from mmdet_ext.datasets.synthetic.draw import textured_background
    from mmdet_ext.datasets.synthetic.shapes import render_shapes_image
    for seed in range(5):
        canvas, objects = render_shapes_image(np.random.default_rng(seed), 256)
        background = textured_background(np.random.default_rng(seed), 256, 256)  # same draws
        assert objects
        for _, (x, y, w, h) in objects:
            sl = np.s_[int(np.ceil(y)):int(y + h), int(np.ceil(x)):int(x + w)]
            changed = np.abs(canvas[sl] - background[sl]).max(axis=2) > 30
            assert changed.mean() > 0.4  # triangles cover half their box, ellipses ~79 %


def parse_dota(txt):
    rows = []
    with open(txt) as f:
        for line in f:
            fields = line.split()
            assert len(fields) == 10, line
            assert fields[8] in ('rectangle', 'ellipse', 'arrow') and fields[9] == '0'
            assert all(len(v.split('.')[1]) == 1 for v in fields[:8])
            rows.append((np.array(fields[:8], float).reshape(4, 2), fields[8]))
    return rows


def check_rectangle(poly, img_size, tol_cos=0.06):
    assert poly.min() >= 0 and poly.max() <= img_size
    sides = [poly[(i + 1) % 4] - poly[i] for i in range(4)]
    for i in range(4):
        a, b = sides[i], sides[(i + 1) % 4]
        cos = abs(a @ b) / (np.linalg.norm(a) * np.linalg.norm(b))
        assert cos < tol_cos, poly
    lengths = [np.linalg.norm(s) for s in sides]
    return max(lengths) / min(lengths), max(lengths)


def test_shapes_rot_dota_format(tmp_path):
    small_rot(tmp_path)
    total = 0
    for split, n in (('train', N), ('val', 2)):
        imgs = sorted(os.listdir(tmp_path / split / 'images'))
        txts = sorted(os.listdir(tmp_path / split / 'labelTxt'))
        assert len(imgs) == n and [i[:-4] for i in imgs] == [t[:-4] for t in txts]
        for txt in txts:
            rows = parse_dota(tmp_path / split / 'labelTxt' / txt)
            assert rows
            for poly, _ in rows:
                aspect, long_side = check_rectangle(poly, 256)
                assert 1.0 - 0.05 <= aspect <= 4.0 + 0.1
                assert 16 - 0.5 <= long_side <= 96 + 0.5
                total += 1
    assert total >= N


def test_shapes_rot_readable_by_dota_dataset(tmp_path):
    pytest.importorskip('mmrotate')
    from mmrotate.datasets import DOTADataset
    small_rot(tmp_path)
    ds = DOTADataset(data_root=str(tmp_path), ann_file='train/labelTxt/',
                     metainfo=dict(classes=('rectangle', 'ellipse', 'arrow')),
                     data_prefix=dict(img_path='train/images/'), pipeline=[], test_mode=True)
    assert len(ds) == N
    n_inst = sum(len(ds.get_data_info(i)['instances']) for i in range(len(ds)))
    assert n_inst >= N


def test_shapes_rot_dense(tmp_path):
    generate_shapes_rot(str(tmp_path), seed=0, num_train=1, num_val=1, dense=True)
    for split in ('train', 'val'):
        img = cv2.imread(str(tmp_path / split / 'images' / '000001.png'))
        assert img.shape == (1024, 1024, 3)
        rows = parse_dota(tmp_path / split / 'labelTxt' / '000001.txt')
        assert len(rows) >= 300
        for poly, _ in rows:
            assert poly.min() >= 0 and poly.max() <= 1024
            side = max(np.linalg.norm(poly[1] - poly[0]), np.linalg.norm(poly[2] - poly[1]))
            assert 6 - 0.5 <= side <= 24 + 0.5


def test_shapes_fog_layout_and_shift(tmp_path):
    small_fog(tmp_path)
    stats = {}
    for domain, size_range in (('source', (12, 96)), ('target', (8, 64))):
        for split in ('train', 'test'):
            check_coco(str(tmp_path / domain / 'annotations' / f'instances_{split}.json'),
                       str(tmp_path / domain / split), size_range)
        imgs = [cv2.imread(str(tmp_path / domain / 'train' / f)).astype(np.float32)
                for f in sorted(os.listdir(tmp_path / domain / 'train'))]
        assert len(imgs) == N
        stats[domain] = dict(
            std=np.mean([im.std(axis=(0, 1)).mean() for im in imgs]),
            top_gap=np.mean([abs(im[:16].mean() - 0.8 * 255) for im in imgs]))
    assert stats['target']['std'] < 0.8 * stats['source']['std']
    # the top rows are pulled towards the airlight 0.8 * 255
    assert stats['target']['top_gap'] < 0.5 * stats['source']['top_gap']


def test_ensure_dataset_idempotent_and_checks_params(tmp_path, capsys):
    root = str(tmp_path / 'shapes') + '/'  # configs write data roots with a trailing slash
    kw = dict(seed=0, num_train=2, num_val=1, num_test=1)
    out = ensure_dataset('shapes', root, **kw)
    assert out == str(tmp_path / 'shapes')
    assert 'Generated' in capsys.readouterr().out
    marker = osp.join(out, '.complete')
    ann = osp.join(out, 'annotations', 'instances_train.json')
    mtimes = (os.stat(marker).st_mtime_ns, os.stat(ann).st_mtime_ns)
    assert ensure_dataset('shapes', root, **kw) == out
    assert ensure_dataset('shapes', out, num_train=2, num_val=1, num_test=1) == out  # defaults
    assert (os.stat(marker).st_mtime_ns, os.stat(ann).st_mtime_ns) == mtimes
    assert 'Generated' not in capsys.readouterr().out
    assert not [p for p in os.listdir(tmp_path) if '.tmp-' in p]
    with pytest.raises(ValueError, match='other parameters'):
        ensure_dataset('shapes', root, **dict(kw, seed=1))
    with pytest.raises(ValueError, match='other parameters'):
        ensure_dataset('shapes-fog', root, seed=0)
    with pytest.raises(ValueError, match='unknown'):
        ensure_dataset('nope', str(tmp_path / 'x'))


def test_ensure_dataset_existing_foreign_folder(tmp_path):
    root = tmp_path / 'real'
    root.mkdir()
    with pytest.raises(ValueError, match='no complete generated'):
        ensure_dataset('shapes', str(root), num_train=1, num_val=1, num_test=1)


def test_ensure_dataset_dense_defaults(tmp_path):
    from mmdet_ext.datasets.synthetic import resolve_params
    p = resolve_params('shapes-rot-dense')
    assert (p['num_train'], p['num_val'], p['img_size'], p['dense']) == (4, 2, 1024, True)
    p = resolve_params('shapes-rot-dense', num_train=1, img_size=512)
    assert (p['num_train'], p['num_val'], p['img_size']) == (1, 2, 512)
    with pytest.raises(ValueError):
        resolve_params('shapes-rot-dense', dense=False)


def test_cli(tmp_path):
    cmd = [sys.executable, osp.join(ROOT, 'tools', 'misc', 'generate_data.py'), 'shapes',
           '--root', str(tmp_path), '--seed', '3']
    # the CLI always uses the default sizes; run it through a tiny monkeypatch-free path:
    # generate once with the CLI's exact parameters would take seconds, so check only the
    # argument handling and the folder name by pre-seeding a matching marker.
    root = tmp_path / 'shapes'
    root.mkdir()
    with open(root / '.complete', 'w') as f:
        from mmdet_ext.datasets.synthetic.ensure import GENERATOR_VERSION, resolve_params
        json.dump(dict(kind='shapes', params=resolve_params('shapes', seed=3),
                       version=GENERATOR_VERSION), f)
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=str(tmp_path), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert 'already' in proc.stdout
    proc = subprocess.run(cmd[:-1] + ['4'], capture_output=True, text=True, cwd=str(tmp_path),
                          timeout=120)
    assert proc.returncode != 0 and 'other parameters' in proc.stderr


def _ensure_worker(root, queue):
    import io
    from contextlib import redirect_stdout
    buf = io.StringIO()
    with redirect_stdout(buf):
        out = ensure_dataset('shapes', root, seed=0, num_train=3, num_val=1, num_test=1)
    queue.put((out, 'Generated' in buf.getvalue()))


def test_ensure_dataset_concurrent(tmp_path):
    """Concurrent callers (e.g. distributed ranks) generate once and all see complete data."""
    import multiprocessing as mp
    ctx = mp.get_context('fork')
    queue = ctx.Queue()
    root = str(tmp_path / 'shapes')
    procs = [ctx.Process(target=_ensure_worker, args=(root, queue)) for _ in range(3)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert all(out == root for out, _ in results)
    assert sum(generated for _, generated in results) == 1
    assert sorted(os.listdir(tmp_path)) == ['shapes', 'shapes.lock']
    assert len(os.listdir(osp.join(root, 'train'))) == 3
