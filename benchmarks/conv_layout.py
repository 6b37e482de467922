"""The conv networks' memory layout: one training step in channels-last (what
``deepsc.nets.ConvAutoencoder``, ``deepsc.sscn.SSCNAutoencoder`` and
``deepsc.teacher.ResNetTeacher`` use) against the same network with the same weights in NCHW,
at the pipeline's batch sizes:

- LRSC / DSC-Net conv AE (32x32): K1's mini-batch of 128 on one thread (as ``map_seeds`` runs
  it), K2's full batch at n = 1,000 (Fashion-MNIST-1000) and 1,797 (digits) on every thread;
- SSCN's AE (28x28): its mini-batch of 1,000 and the full batch of 10,000 (sscn_pretrain@);
- the image teacher (ResNet-18 at width 8): a batch of 128 with cross-entropy.

The two layouts run interleaved and the median of each is printed with their ratio, so a noisy
machine biases neither. The outputs are compared too (equal up to float32 rounding: the layout
changes the order of the kernels' sums, not the maths).

    python benchmarks/conv_layout.py [--reps 20]
"""
import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from deepsc.runtime import keep_freed_memory

keep_freed_memory()   # as the stages do

import torch

from deepsc.nets import ConvAutoencoder
from deepsc.sscn import SSCNAutoencoder
from deepsc.teacher import ResNetTeacher


def ae_step(ae, x, nchw: bool):
    """Forward + backward of the reconstruction loss; ``nchw``: without the layout conversion."""
    if nchw:
        rec = ae.decoder(ae.encoder(x).flatten(1).view(-1, *ae.code_shape))
    else:
        rec = ae.decode(ae.encode(x))
    ((rec - x) ** 2).sum().backward()
    return rec


def teacher_step(model, x, nchw: bool):
    out = model(x)
    torch.nn.functional.cross_entropy(out, torch.arange(len(x)) % out.shape[1]).backward()
    return out


def compare(name, net, step, x, threads, reps):
    torch.set_num_threads(threads)
    nchw = copy.deepcopy(net).to(memory_format=torch.contiguous_format)
    diff = float((step(nchw, x, True) - step(net, x, False)).detach().abs().max())
    times = {True: [], False: []}
    for i in range(2 * (reps + 2)):
        which, model = (True, nchw) if i % 2 == 0 else (False, net)
        model.zero_grad(set_to_none=True)
        t0 = time.perf_counter()
        step(model, x, which)
        times[which].append(time.perf_counter() - t0)
    a, b = (1000 * statistics.median(times[k][2:]) for k in (True, False))
    print(f"{name:<44} {a:9.1f} {b:17.1f} {a / b:6.2f}x {diff:11.1e}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=20)
    args = ap.parse_args()
    threads = torch.get_num_threads()
    torch.manual_seed(0)
    print(f"{'step':<44} {'NCHW ms':>9} {'channels-last ms':>17} {'ratio':>7} {'max |diff|':>11}")
    ae = ConvAutoencoder()
    compare("conv AE, K1 batch 128, 1 thread", ae, ae_step, torch.rand(128, 1, 32, 32), 1,
            4 * args.reps)
    for n in (1000, 1797):
        compare(f"conv AE, K2 n = {n:,}, {threads} threads", ae, ae_step,
                torch.rand(n, 1, 32, 32), threads, args.reps)
    sae = SSCNAutoencoder()
    compare(f"SSCN AE, batch 1,000, {threads} threads", sae, ae_step, torch.rand(1000, 1, 28, 28),
            threads, args.reps)
    compare(f"SSCN AE, full batch 10,000, {threads} threads", sae, ae_step,
            torch.rand(10000, 1, 28, 28), threads, max(3, args.reps // 4))
    teacher = ResNetTeacher(10, 1, width=8)
    compare(f"ResNet-18 teacher (width 8), batch 128, {threads} thr.", teacher, teacher_step,
            torch.rand(128, 1, 32, 32), threads, 2 * args.reps)
    torch.set_num_threads(threads)


if __name__ == "__main__":
    main()
