"""Time and peak memory of one full-batch K2 step of LRSC (Algorithm 2's second loop, eq. 9)
at n = 1,000 / 5,000 / 10,000 points, against one plain C @ Z matmul of the same shape
measured in the same run.

Each n runs in a fresh subprocess, so its peak RSS is its own. The step is the pipeline's:
the conv autoencoder of the image targets (32x32x1, latent 160), C n x n with diag(C) = 0,
eq. (9) with every term on (lambda1, lambda2 ||C||_F^2, mu * eq. 4 with an n x n W, gamma *
eq. 8 with n x n logits), backward, Adam on autoencoder + C. Inputs are random: the cost does
not depend on the values.

    python benchmarks/k2_step.py            # or: make bench
    python benchmarks/k2_step.py --n 1000 2000 --steps 2
"""
import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def measure(n: int, steps: int, kind: str) -> dict:
    import torch

    from deepsc.finetune import pick_device
    from deepsc.losses import heat_kernel_weights, lrsc_loss
    from deepsc.nets import build_autoencoder
    from deepsc.selfexpr import SelfExpression

    dev = pick_device("auto")
    torch.manual_seed(0)
    if kind == "image":
        x = torch.rand(n, 1, 32, 32, device=dev)
        ae = build_autoencoder("image", (1, 32, 32), {"channels": [10, 20, 30, 40], "kernel": 3}).to(dev)
    else:
        x = torch.randn(n, 256, device=dev)
        ae = build_autoencoder("text", (256,), {"latent_dim": 128}).to(dev)
    W, _ = heat_kernel_weights(torch.randn(n, 64, device=dev))
    se = SelfExpression(n).to(dev)
    opt = torch.optim.Adam(list(ae.parameters()) + list(se.parameters()), lr=1e-3)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)

    def step():
        z = ae.encode(x)
        zc = se(z)
        terms = lrsc_loss(x, ae.decode(zc), z, zc, se.C, W, lambda1=10.0, lambda2=1.0, mu=1e-3,
                          gamma=1.0, sigma=0.5, reg="l2")
        opt.zero_grad(set_to_none=True)
        terms["loss"].backward()
        opt.step()

    with torch.no_grad():
        z = ae.encode(x).detach()
    C = se.C.detach()

    def matmul():
        return C.T @ z

    def timeit(fn, reps):
        fn()  # warm-up
        sync()
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        sync()
        return (time.perf_counter() - t0) / reps

    t_step = timeit(step, steps)
    t_mm = timeit(matmul, max(3, steps))
    peak = (torch.cuda.max_memory_allocated() / 2**20 if dev.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return {"n": n, "kind": kind, "device": str(dev), "latent_dim": int(z.shape[1]),
            "step_s": t_step, "matmul_s": t_mm, "ratio": t_step / t_mm, "peak_mib": peak,
            "n2_floats_mib": n * n * 4 / 2**20}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, nargs="+", default=[1000, 5000, 10000])
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--kind", choices=["image", "text"], default="image")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(measure(args.n[0], args.steps, args.kind)))
        return
    print(f"K2 step of eq. (9), {args.kind} autoencoder, mean of {args.steps} steps after a warm-up; "
          "reference: one C^T @ Z matmul of the same shape, same process")
    print(f"{'n':>6} {'step (s)':>10} {'C@Z (s)':>10} {'step / C@Z':>11} {'peak (MiB)':>11} "
          f"{'one n x n fp32 (MiB)':>21}")
    for n in args.n:
        out = subprocess.run([sys.executable, __file__, "--child", "--n", str(n), "--steps",
                              str(args.steps), "--kind", args.kind], cwd=ROOT, capture_output=True,
                             text=True, env=None)
        if out.returncode:
            print(f"{n:>6} failed: {out.stderr.strip().splitlines()[-1]}")
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{r['n']:>6} {r['step_s']:>10.3f} {r['matmul_s']:>10.4f} {r['ratio']:>11.1f} "
              f"{r['peak_mib']:>11.0f} {r['n2_floats_mib']:>21.0f}   ({r['device']}, latent {r['latent_dim']})")


if __name__ == "__main__":
    main()
