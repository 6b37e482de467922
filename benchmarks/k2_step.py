"""One full-batch K2 step of LRSC (Algorithm 2's second loop, eq. 9) at n = 1,000 / 5,000 /
10,000 points, beside the hardware floor measured in the same run.

The step is the pipeline's own loop, ``deepsc.finetune.finetune_selfexpression``, with every
term of eq. (9) on (lambda1, lambda2 ||C||_F^2 with C in Adam, mu * eq. 4 with an n x n W,
gamma * eq. 8 with n x n logits), for both data kinds with the autoencoders of params.yaml
(image: the conv AE on 32x32x1; text: the MLP AE on 512-d TF-IDF+SVD features). Its time is
(t(1 + k steps) - t(1 step)) / k, which removes set-up and the logging of the first and last
steps. Inputs are random: the cost does not depend on the values.

The floor, per n and kind, measured in the same run:
- time: the step's dense products timed alone as plain matmuls (C^T Z forward, Z G^T and C G
  backward; the eq. 8 logits A B^T and its two backward products; W Z for eq. 4 and W G in
  backward: 8 products) plus the autoencoder's forward + backward over all n points;
- memory: the n x n buffers the step must hold (C, its gradient, Adam's two moments, W, the
  eq. 8 logits: 6 x n^2 floats) plus the peak RSS of a process that runs the autoencoder's
  forward + backward alone (the interpreter, torch, the data, the activations).
Goal (issue 15): step / floor <= 1.5 and peak / floor <= 1.5 at n = 10,000.

``--c-update prox_backtrack`` measures the step the l1 rows take (``finetune.c_update.l1``):
||C||_1 (lambda2 = 0.1), Adam on the autoencoder only, C by a proximal step with backtracking.
Each try of the backtracking evaluates the smooth part once more (C^T Z, the decoder's forward,
the eq. 8 logits), so its floor adds those, timed alone, once per try (the mean tries per step
is printed); its n x n buffers are C, its gradient, the candidate and its difference, W and
the logits (6 again).

Each measurement runs in a fresh subprocess, so its peak RSS is its own, with the stage
scripts' process settings (``deepsc/runtime.py``: freed memory kept by malloc; run with
DEEPSC_MALLOC=default for glibc's defaults, which cost every n x n temporary its page faults).

    python benchmarks/k2_step.py            # or: make bench
    python benchmarks/k2_step.py --n 1000 --kind text --steps 2
    PYTHONPATH=/path/to/old/checkout python benchmarks/k2_step.py   # the same bench on old code
"""
import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEXT_DIM = 512   # news20's svd_dim (params.yaml), the larger text target
N2_BUFFERS = 6   # C, grad C, Adam m and v, W, the eq. 8 logits


def _setup(n: int, kind: str):
    from deepsc.runtime import keep_freed_memory

    keep_freed_memory()   # as the stage scripts do, before torch allocates
    import torch

    from deepsc.finetune import pick_device
    from deepsc.nets import build_autoencoder

    ae_p = yaml.safe_load((ROOT / "params.yaml").read_text())["ae"][kind]
    dev = pick_device("auto")
    torch.manual_seed(0)
    if kind == "image":
        x = torch.rand(n, 1, 32, 32, device=dev)
        ae = build_autoencoder("image", (1, 32, 32), ae_p).to(dev)
    else:
        x = torch.randn(n, TEXT_DIM, device=dev)
        ae = build_autoencoder("text", (TEXT_DIM,), ae_p).to(dev)
    return torch, dev, x, ae


def _sync(torch, dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def _peak_mib(torch, dev) -> float:
    if dev.type == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timeit(torch, dev, fn, reps: int) -> float:
    fn()   # warm-up
    _sync(torch, dev)
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    _sync(torch, dev)
    return (time.perf_counter() - t0) / reps


def measure_step(n: int, kind: str, steps: int, c_update: str = "adam") -> dict:
    from deepsc.finetune import finetune_selfexpression
    from deepsc.losses import heat_kernel_weights

    torch, dev, x, ae = _setup(n, kind)
    W, _ = heat_kernel_weights(torch.randn(n, 64, device=dev))
    kw = dict(lr=1e-3, lambda1=10.0, lambda2=1.0, reg="l2", W=W, mu=1.0, gamma=1.0, sigma=0.5,
              log_every=10**9, progress=False)
    if c_update != "adam":
        kw.update(reg="l1", lambda2=0.1, log_every=1)
    for opt in (dict(scale="mean", c_update=c_update), {}):   # older code: no scale / c_update
        try:
            finetune_selfexpression(ae, x, steps=1, **kw, **opt)   # warm-up
            kw.update(opt)
            break
        except TypeError:
            continue

    tries = []

    def run(k):
        _sync(torch, dev)
        t0 = time.perf_counter()
        se, curve = finetune_selfexpression(ae, x, steps=k, **kw)
        _sync(torch, dev)
        del se
        tries[:] = [r.get("c_tries", 0) for r in curve[1:]]
        return time.perf_counter() - t0

    t1, tk = run(1), run(1 + steps)
    peak = _peak_mib(torch, dev)
    with torch.no_grad():
        z = ae.encode(x).flatten(1)
    C = torch.rand(n, n, device=dev)
    g = torch.randn_like(z)
    products = {   # (n x n)(n x d) and (n x d)(d x n), as in the step's forward and backward
        "C^T Z": lambda: C.T @ z, "C G": lambda: C @ g, "Z G^T": lambda: z @ g.T,
        "A B^T": lambda: z @ g.T, "dS B": lambda: C @ g, "dS^T A": lambda: C.T @ z,
        "W Z": lambda: W @ z, "W G": lambda: W @ g}
    t_products = {k: _timeit(torch, dev, f, 3) for k, f in products.items()}
    with torch.no_grad():   # one more evaluation of the smooth part, per backtracking try
        t_eval = t_products["A B^T"] + _timeit(torch, dev, lambda: ae.decode(C.T @ z), 3)
    return {"n": n, "kind": kind, "device": str(dev), "latent_dim": int(z.shape[1]),
            "step_s": (tk - t1) / steps, "peak_mib": peak, "products_s": sum(t_products.values()),
            "matmul_s": t_products["C^T Z"], "eval_s": t_eval,
            "tries": sum(tries) / len(tries) if tries and c_update == "prox_backtrack" else 0.0}


def measure_ae(n: int, kind: str) -> dict:
    torch, dev, x, ae = _setup(n, kind)
    params = list(ae.parameters())

    def fwd_bwd():
        loss = 0.5 * (x - ae.decode(ae.encode(x))).pow(2).sum()
        grads = torch.autograd.grad(loss, params)
        del grads

    t = _timeit(torch, dev, fwd_bwd, 3)
    return {"ae_s": t, "ae_peak_mib": _peak_mib(torch, dev)}


def _child(mode: str, n: int, kind: str, steps: int, c_update: str = "adam") -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", mode, "--n", str(n), "--kind", kind,
                          "--steps", str(steps), "--c-update", c_update], cwd=ROOT,
                         capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(out.stderr.strip().splitlines()[-1])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, nargs="+", default=[1000, 5000, 10000])
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--kind", choices=["image", "text"], nargs="+", default=["image", "text"])
    ap.add_argument("--c-update", choices=["adam", "prox_backtrack"], default="adam",
                    help="adam: the l2 rows' step (C in Adam); prox_backtrack: the l1 rows'")
    ap.add_argument("--child", choices=["step", "ae"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        fn = measure_step if args.child == "step" else measure_ae
        res = (fn(args.n[0], args.kind[0], args.steps, args.c_update) if args.child == "step"
               else fn(args.n[0], args.kind[0]))
        print(json.dumps(res))
        return
    import torch

    how = ("C in Adam, ||C||_F^2" if args.c_update == "adam"
           else "||C||_1, C by a backtracking prox step (floor: + one smooth-part evaluation per try)")
    print(f"K2 step of eq. (9), every term on, {how}; mean of {args.steps} steps; floor measured "
          f"in the same run (torch {torch.__version__}, {torch.get_num_threads()} threads)")
    print(f"{'kind':>5} {'n':>6} {'step s':>8} {'floor s':>8} {'(mm+AE)':>14} {'step/floor':>10} "
          f"{'peak MiB':>9} {'floor MiB':>9} {'peak/floor':>10} {'step/C@Z':>8}")
    for kind in args.kind:
        for n in args.n:
            try:
                s = _child("step", n, kind, args.steps, args.c_update)
                a = _child("ae", n, kind, args.steps)
            except RuntimeError as err:
                print(f"{kind:>5} {n:>6} failed: {err}")
                continue
            floor_s = s["products_s"] + a["ae_s"] + s["tries"] * s["eval_s"]
            floor_mib = a["ae_peak_mib"] + N2_BUFFERS * n * n * 4 / 2**20
            print(f"{kind:>5} {n:>6} {s['step_s']:>8.3f} {floor_s:>8.3f} "
                  f"{s['products_s']:>6.2f}+{a['ae_s']:<6.2f} {s['step_s'] / floor_s:>10.2f} "
                  f"{s['peak_mib']:>9.0f} {floor_mib:>9.0f} {s['peak_mib'] / floor_mib:>10.2f} "
                  f"{s['step_s'] / s['matmul_s']:>8.1f}"
                  + (f"  tries/step {s['tries']:.2f}" if s["tries"] else ""), flush=True)


if __name__ == "__main__":
    main()
