"""Peak resident memory of one pass, for the benchmarks' memory columns (Linux, no torch import).

The high-water mark VmHWM is reset to the current RSS just before the pass (writing 5 to
``/proc/self/clear_refs``) and read after it; the peak the pass adds is VmHWM after minus VmRSS
before (activations, saved tensors, gradients, allocator caching). Not ``ru_maxrss``, which a
forked child inherits from its parent. Run each measured pass in a fresh process.
"""
from typing import Callable


def status_kib(field: str) -> int:
    """A ``/proc/self/status`` field in KiB (``'VmRSS'``, ``'VmHWM'``)."""
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    raise KeyError(f'{field} is not in /proc/self/status')


def peak_rss_mib(run: Callable[[], object]) -> float:
    """Call ``run()``; return the resident memory it added at its peak, in MiB.

    Raises OSError where ``/proc/self/clear_refs`` cannot be written (not Linux, restricted).
    """
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')
    before = status_kib('VmRSS')
    run()
    return (status_kib('VmHWM') - before) / 1024
