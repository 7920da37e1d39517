"""Generate a synthetic dataset once, safely under concurrency (distributed ranks, workers).

``ensure_dataset(kind, root, **kwargs)``:

* ``root/.complete`` holds ``{"kind", "params", "version"}`` (all generator parameters,
  defaults filled in). If it is there and matches, ``root`` is returned at once; if it
  differs, a ``ValueError`` says how to regenerate.
* Otherwise, holding an exclusive ``fcntl.flock`` on ``root + '.lock'``, the data is written
  to ``root + '.tmp-<pid>'`` (marker last) and moved into place with one ``os.rename``, so
  nobody ever sees half-written data. If the rename loses against another process, ours is
  deleted and theirs used.
"""
import inspect
import json
import os
import os.path as osp
import shutil
import time
from typing import Callable, Dict, Tuple

from .shapes import generate_shapes
from .shapes_fog import generate_shapes_fog
from .shapes_rot import generate_shapes_rot, resolve_rot_params

MARKER = '.complete'
#: Bumped when a generator's output changes, so stale data is detected.
GENERATOR_VERSION = 1

KINDS: Dict[str, Tuple[Callable, dict]] = {
    'shapes': (generate_shapes, {}),
    'shapes-rot': (generate_shapes_rot, dict(dense=False)),
    'shapes-rot-dense': (generate_shapes_rot, dict(dense=True)),
    'shapes-fog': (generate_shapes_fog, {}),
}
#: Folder names under ``data/`` used by the CLI and the configs.
DEFAULT_DIRS = {'shapes': 'shapes', 'shapes-rot': 'shapes_rot',
                'shapes-rot-dense': 'shapes_rot_dense', 'shapes-fog': 'shapes_fog'}


def resolve_params(kind: str, **kwargs) -> dict:
    """All parameters of ``kind``'s generator (defaults filled in, dense defaults applied)."""
    if kind not in KINDS:
        raise ValueError(f'unknown synthetic dataset kind {kind!r}; choose one of {sorted(KINDS)}')
    fn, fixed = KINDS[kind]
    for key, value in fixed.items():
        if key in kwargs and kwargs[key] != value:
            raise ValueError(f'kind {kind!r} implies {key}={value!r}; got {key}={kwargs[key]!r}')
    kwargs = {**kwargs, **fixed}
    try:
        bound = inspect.signature(fn).bind('<out_dir>', **kwargs)
    except TypeError as e:
        raise TypeError(f'bad parameters for synthetic dataset {kind!r}: {e}') from None
    bound.apply_defaults()
    params = dict(bound.arguments)
    params.pop('out_dir')
    if fn is generate_shapes_rot:
        params.update(resolve_rot_params(params['num_train'], params['num_val'],
                                         params['img_size'], params['dense']))
    return {k: (v if isinstance(v, bool) else int(v)) for k, v in params.items()}


def _marker(kind: str, params: dict) -> dict:
    return dict(kind=kind, params=params, version=GENERATOR_VERSION)


def _is_complete(root: str, kind: str, params: dict) -> bool:
    path = osp.join(root, MARKER)
    if not osp.isfile(path):
        return False
    with open(path) as f:
        found = json.load(f)
    wanted = _marker(kind, params)
    if found != wanted:
        raise ValueError(
            f'the existing data at {root!r} was generated with other parameters: {found} '
            f'(requested {wanted}). To regenerate, delete it (`rm -rf {root}`, or '
            f'`python tools/misc/generate_data.py {kind} --force` for the default folders under '
            f'data/), or point data_root at another folder.')
    return True


def ensure_dataset(kind: str, root: str, **kwargs) -> str:
    """Make sure the synthetic dataset ``kind`` generated with ``kwargs`` exists at ``root``.

    Args:
        kind: 'shapes', 'shapes-rot', 'shapes-rot-dense' or 'shapes-fog'.
        root: dataset folder (created; its parent too).
        **kwargs: the generator's arguments (``seed``, counts, ``img_size``).

    Returns:
        ``root`` (normalised, without a trailing slash).
    """
    params = resolve_params(kind, **kwargs)
    root = osp.normpath(root)
    if _is_complete(root, kind, params):
        return root
    import fcntl  # POSIX only; imported here so the generators import everywhere
    parent = osp.dirname(osp.abspath(root))
    os.makedirs(parent, exist_ok=True)
    with open(root + '.lock', 'a') as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            if _is_complete(root, kind, params):
                return root  # another process generated it while we waited
            if osp.exists(root):
                raise ValueError(
                    f'{root!r} exists but holds no complete generated {kind!r} dataset (no '
                    f'{MARKER} marker); delete it or choose another root to generate there.')
            tmp = f'{root}.tmp-{os.getpid()}'
            shutil.rmtree(tmp, ignore_errors=True)
            start = time.perf_counter()
            try:
                fn, _ = KINDS[kind]
                fn(tmp, **{k: v for k, v in params.items()
                           if k in inspect.signature(fn).parameters})
                with open(osp.join(tmp, MARKER), 'w') as f:
                    json.dump(_marker(kind, params), f, sort_keys=True)
                    f.write('\n')
                try:
                    os.rename(tmp, root)
                except OSError:
                    if not _is_complete(root, kind, params):  # lost a race: use theirs
                        raise
                    shutil.rmtree(tmp, ignore_errors=True)
                    return root
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            elapsed = time.perf_counter() - start
            args = ', '.join(f'{k}={v}' for k, v in sorted(params.items()))
            print(f'Generated synthetic dataset {kind!r} ({args}) in {root} in {elapsed:.1f} s',
                  flush=True)
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
    return root
