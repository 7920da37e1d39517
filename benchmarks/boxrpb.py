"""One Plain DETR decoder cross-attention layer, forward + backward: plain vs BoxRPB variants.

    .venv/bin/python benchmarks/boxrpb.py [--reps 3] [--threads 1] [--device cpu|cuda]
        [--hw 50 84] [--queries 1800] [--skip-memory]

Workload (issue 6): keys = one stride-16 map of H x W = 50 x 84 (an 800 x 1333 image), 1800
queries (300 one-to-one + 1500 one-to-many), d = 256, 8 heads, batch 1, fp32; the layer
includes the q / k / v / output projections; the loss is the sum of the output, backward
reaches the inputs, the projections and the BoxRPB MLPs (hidden 512). Variants, all on the
very same inputs and weights:

* ``plain``: plain global cross-attention as the reference writes it (softmax(q k^T) v, the
  attention map kept for backward) -- the baseline of the ratios;
* ``plain_sdpa``: the same through ``F.scaled_dot_product_attention`` (fused; information only);
* ``undecomposed``: BoxRPB without the axial decomposition (one MLP on the 4 corner offsets of
  every (query, pixel) pair); run only when its estimated memory fits ``--max-gb`` (8 GB),
  otherwise its memory is analytic (the MLP hidden activations kept for backward,
  nQ * H*W * 512 fp32, plus its input, the bias, the logits and the attention map) and its time
  is not measured;
* ``reference``: decomposed BoxRPB as the reference implements it (Bx, By from the two MLPs on
  nQ * (H + W) offsets, full bias materialised, soft -100 padding mask, autograd keeps
  everything);
* ``ours``: :func:`box_rpb_attention` as configs use it -- query chunks, no full bias or MLP hidden
  layer kept (recomputed chunk by chunk in backward), the attention map kept as plain attention
  keeps it;
* ``ours_recompute``: the same with ``keep_probs=False`` (the attention map recomputed too, like
  flash attention: the least memory; information only).

Time: median of ``--reps`` repetitions after one warm-up, variants alternating within each
repetition (a shared machine's load drifts). Peak memory: every variant runs once in a fresh
subprocess. On CPU: the process's resident-set high-water mark is reset to the current RSS
just before the pass (``/proc/self/clear_refs`` = 5) and VmHWM after the pass minus VmRSS before
it is the peak the pass itself adds (activations, saved tensors, gradients, allocator caching);
not ``ru_maxrss``, which a forked child inherits from its parent. On CUDA:
``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats`` minus the memory
allocated before the pass.

Allocator (CPU): with glibc's defaults a buffer of 32 MB or more is mapped afresh on every
allocation, so plain attention pays page faults for its attention map (242 MB here) and its
gradient on every pass -- measured here as 47 % of its time (746 vs 392 ms). To compare compute alone (as with
CUDA's caching allocator, which reuses memory), run with
``MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=4294967296``; the configs/plain_detr
README reports both.

Runs on plain PyTorch: ``mmdet_ext/models/layers/box_rpb.py`` is loaded by path (no mmcv /
mmdet import). The last printed line is one JSON object with ``mem_ratio_vs_plain``,
``time_ratio_vs_plain`` (ours / plain), ``mem_ratio_vs_undecomposed`` (ours / undecomposed)
and the details. Targets: <= 1.5, <= 1.6, <= 0.05.
"""
import argparse
import importlib.util
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
import time

from _rss import peak_rss_mib  # benchmarks/_rss.py: the script's folder is on sys.path

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
VARIANTS = ['plain', 'plain_sdpa', 'undecomposed', 'reference', 'ours', 'ours_recompute']


def load_box_rpb():
    spec = importlib.util.spec_from_file_location('box_rpb', osp.join(ROOT, 'mmdet_ext/models/layers/box_rpb.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def undecomposed_bytes(nq, hw, heads, hidden=512, elem=4):
    """Memory autograd keeps for the undecomposed BoxRPB (fwd + bwd peak, lower bound)."""
    hidden_act = nq * hw * hidden * elem  # ReLU output, saved by the second Linear (and the ReLU)
    mlp_in = nq * hw * 4 * elem
    full = heads * nq * hw * elem  # bias, logits, attention map
    return hidden_act + mlp_in + 3 * full


class Layer:
    """Projections + BoxRPB MLPs with deterministic weights, and the inputs of one layer."""

    def __init__(self, m, args, device):
        import torch
        from torch import nn
        torch.manual_seed(0)
        d, heads, (H, W), nq = 256, 8, args.hw, args.queries
        self.m, self.d, self.heads, self.H, self.W, self.nq, self.stride = m, d, heads, H, W, nq, 16
        self.proj = nn.ModuleList([nn.Linear(d, d) for _ in range(4)]).to(device)
        self.mlp_x = m.make_rpb_mlp(512, heads).to(device)
        self.mlp_y = m.make_rpb_mlp(512, heads).to(device)
        self.mlp_4 = nn.Sequential(nn.Linear(4, 512), nn.ReLU(), nn.Linear(512, heads, bias=False)).to(device)
        for mod in [self.proj, self.mlp_x, self.mlp_y, self.mlp_4]:
            for p in mod.modules():
                if isinstance(p, nn.Linear):
                    nn.init.trunc_normal_(p.weight, std=0.02)
        gen = torch.Generator().manual_seed(1)
        self.query = torch.randn(1, nq, d, generator=gen).to(device).requires_grad_(True)
        self.memory = torch.randn(1, H * W, d, generator=gen).to(device).requires_grad_(True)
        self.pos = torch.randn(1, H * W, d, generator=gen).to(device)
        ref = torch.cat([torch.rand(1, nq, 2, generator=gen) * 0.8 + 0.1, torch.rand(1, nq, 2, generator=gen) * 0.3
                         + 0.02], -1)
        self.boxes = m.ref_boxes_to_pixels(ref.to(device), (H, W), self.stride)

    def _heads(self, x):
        return x.view(1, -1, self.heads, self.d // self.heads).transpose(1, 2)

    def run(self, variant):
        """Forward + backward of one variant."""
        import torch
        import torch.nn.functional as F
        m, (H, W) = self.m, (self.H, self.W)
        q = self._heads(self.proj[0](self.query)) * (self.d // self.heads) ** -0.5
        k = self._heads(self.proj[1](self.memory + self.pos))
        v = self._heads(self.proj[2](self.memory))
        if variant == 'plain':
            out = (q @ k.transpose(-1, -2)).softmax(-1) @ v
        elif variant == 'plain_sdpa':
            out = F.scaled_dot_product_attention(q, k, v, scale=1.0)
        elif variant == 'undecomposed':
            py, px = torch.meshgrid((torch.arange(H, device=q.device) + 0.5) * self.stride,
                                    (torch.arange(W, device=q.device) + 0.5) * self.stride, indexing='ij')
            pix = torch.stack([px, py, px, py], -1).view(1, 1, H * W, 4)
            offsets = self.boxes[:, :, None, :] - pix  # (1, nQ, H*W, 4)
            bias = self.mlp_4(offsets).permute(0, 3, 1, 2)
            out = ((q @ k.transpose(-1, -2)) + bias).softmax(-1) @ v
        elif variant == 'reference':
            out = m.box_rpb_attention_naive(q, k, v, self.boxes, (H, W), self.stride, self.mlp_x, self.mlp_y,
                                            pad_value=-100.0)
        elif variant in ('ours', 'ours_recompute'):
            out = m.box_rpb_attention(q, k, v, self.boxes, (H, W), self.stride, self.mlp_x, self.mlp_y,
                                      keep_probs=variant == 'ours')
        else:
            raise ValueError(variant)
        out = self.proj[3](out.transpose(1, 2).reshape(1, self.nq, self.d))
        out.sum().backward()
        self.zero_grad()

    def zero_grad(self):
        for mod in [self.proj, self.mlp_x, self.mlp_y, self.mlp_4]:
            mod.zero_grad(set_to_none=True)
        self.query.grad = self.memory.grad = None


def memory_child(args):
    """Run one variant once after a warm-up of its inputs; print its peak in MiB."""
    import torch
    torch.set_num_threads(args.threads)
    layer = Layer(load_box_rpb(), args, args.device)
    if args.device == 'cuda':
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        layer.run(args.child)
        torch.cuda.synchronize()
        peak = (torch.cuda.max_memory_allocated() - before) / 2 ** 20
    else:
        peak = peak_rss_mib(lambda: layer.run(args.child))
    print(json.dumps({'peak_mib': peak}))


def peak_memory(variant, args):
    cmd = [sys.executable, osp.abspath(__file__), '--child', variant, '--device', args.device, '--threads',
           str(args.threads), '--queries', str(args.queries), '--hw', *map(str, args.hw)]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f'{variant} memory run failed:\n{proc.stderr[-3000:]}')
    return json.loads(proc.stdout.strip().splitlines()[-1])['peak_mib']


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--reps', type=int, default=3)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--device', default=None, help='cpu or cuda (default: cuda when available)')
    parser.add_argument('--hw', type=int, nargs=2, default=[50, 84])
    parser.add_argument('--queries', type=int, default=1800)
    parser.add_argument('--max-gb', type=float, default=8.0, help='run the undecomposed variant only below this')
    parser.add_argument('--skip-memory', action='store_true')
    parser.add_argument('--child', help=argparse.SUPPRESS)
    args = parser.parse_args()
    import torch
    if args.device is None:
        args.device = 'cuda' if torch.cuda.is_available() else 'cpu'
    if args.child:
        return memory_child(args)
    torch.set_num_threads(args.threads)
    H, W = args.hw
    undec_est = undecomposed_bytes(args.queries, H * W, 8) / 2 ** 20
    run_undec = undec_est / 1024 <= args.max_gb
    variants = [v for v in VARIANTS if v != 'undecomposed' or run_undec]

    def sync():
        if args.device == 'cuda':
            torch.cuda.synchronize()

    layer = Layer(load_box_rpb(), args, args.device)
    times = {v: [] for v in variants}
    for rep in range(args.reps + 1):
        for v in variants:
            sync()
            start = time.perf_counter()
            layer.run(v)
            sync()
            if rep:  # the first repetition is the warm-up
                times[v].append(time.perf_counter() - start)
    time_s = {v: statistics.median(t) for v, t in times.items()}
    mem = {} if args.skip_memory else {v: peak_memory(v, args) for v in variants}
    if not run_undec:
        mem['undecomposed'] = undec_est
    print(f'device {args.device}, threads {args.threads}, H x W = {H} x {W}, {args.queries} queries, 8 heads, '
          f'd 256, batch 1, fwd + bwd')
    for v in VARIANTS:
        t = f'{time_s[v] * 1e3:8.1f} ms' if v in time_s else '    (not run)'
        mm = f'{mem[v]:9.1f} MiB' if v in mem else ''
        note = ' (analytic)' if v == 'undecomposed' and not run_undec else ''
        print(f'  {v:15s} {t}  {mm}{note}')
    result = dict(
        time_ratio_vs_plain=round(time_s['ours'] / time_s['plain'], 3),
        mem_ratio_vs_plain=round(mem['ours'] / mem['plain'], 3) if 'ours' in mem else None,
        mem_ratio_vs_undecomposed=round(mem['ours'] / mem['undecomposed'], 4) if 'ours' in mem else None,
        time_ratio_vs_reference=round(time_s['ours'] / time_s['reference'], 3),
        mem_ratio_vs_reference=round(mem['ours'] / mem['reference'], 3) if 'ours' in mem else None,
        mem_ratio_vs_plain_sdpa=round(mem['ours'] / mem['plain_sdpa'], 3) if 'ours' in mem else None,
        time_ratio_vs_plain_sdpa=round(time_s['ours'] / time_s['plain_sdpa'], 3),
        recompute_time_ratio_vs_plain=round(time_s['ours_recompute'] / time_s['plain'], 3),
        recompute_mem_ratio_vs_plain=round(mem['ours_recompute'] / mem['plain'], 3) if 'ours_recompute' in mem else None,
        time_ms={v: round(t * 1e3, 1) for v, t in time_s.items()},
        peak_mib={v: round(x, 1) for v, x in mem.items()},
        undecomposed_memory='measured' if run_undec else 'analytic',
        device=args.device, threads=args.threads, hw=[H, W], queries=args.queries)
    print(json.dumps(result))


if __name__ == '__main__':
    main()
