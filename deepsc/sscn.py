"""SSCN: Siamese Subspace Clustering Networks (Busch et al. 2020, ``papers/sscn-2020.md``).

Definition 3 (eq. 3), trained in the reference code's two steps:

1. Self-expression metric: encoder, decoder and a bias-free linear embedding h: Z -> H
   (d_H = K*q) on uniformly random mini-batches with
   1/2||Q||_F^2 + lambda1/2 ||Z - ZQ||_F^2 + lambda2/2 ||X - dec(ZQ)||_F^2,  Q = H^T H.
   (``sscn_terms``; Definition 2 / eq. 2 is the case enc = identity, no decoder.)
2. Classifier (lambda3 * L_clf): a rotation R on the Stiefel manifold, fixed axis-aligned
   subspaces (K blocks of q coordinates), softmax over minus the squared projection distances,
   cross-entropy against pseudo-labels from spectral clustering of the training set's Q,
   trained with Cayley-Adam (Li et al. 2020) (``RotationClassifier``, ``cayley_adam_step``).

Rows are points here (the paper's columns): H is (n, d_H) and Q = H H^T. Nothing here ever
needs an n x n matrix for training or for out-of-sample prediction: ||Q||_F^2 = ||H^T H||_F^2
and QZ = H (H^T Z) are computed with d_H x d_H and d_H x d_Z products. Only the spectral
clustering of the training set looks at Q, and ``sscn_affinity`` builds it block by block.

No labels enter here: the functions receive images (and pseudo-labels of their own making).
"""
from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp
import torch
from scipy.sparse.linalg import eigsh, svds
from sklearn.cluster import KMeans
from sklearn.preprocessing import normalize
from torch import nn
from tqdm import tqdm

from .nets import channels_last_, code_maps


# --- the network -----------------------------------------------------------------------------

class SSCNAutoencoder(nn.Module):
    """The reference code's MNIST autoencoder (REFERENCE.md section 3): 1->10 (k5, s2, p2),
    10->20 (k3, s2, p1), 20->30 (k3, s2, p1), ReLU after each; 28->14->7->4, so Z has 480
    dims; a mirrored transposed-convolution decoder, ReLU after each layer (inputs are in
    [0, 1]). Xavier-uniform weights and zero biases, as there. 14,991 weights."""

    def __init__(self, in_channels: int = 1, image_size: int = 28):
        super().__init__()
        if image_size != 28:
            raise ValueError(f"the SSCN autoencoder is built for 28x28 images, got {image_size}")
        self.encoder = nn.Sequential(
            nn.Conv2d(in_channels, 10, 5, stride=2, padding=2), nn.ReLU(),
            nn.Conv2d(10, 20, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(20, 30, 3, stride=2, padding=1), nn.ReLU())
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(30, 20, 3, stride=2, padding=1), nn.ReLU(),                    # 4->7
            nn.ConvTranspose2d(20, 10, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),  # ->14
            nn.ConvTranspose2d(10, in_channels, 5, stride=2, padding=2, output_padding=1),    # ->28
            nn.ReLU())
        self.code_shape = (30, 4, 4)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        channels_last_(self)   # deepsc.nets.channels_last_: a memory layout only

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x).flatten(1)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(code_maps(z, self.code_shape))


class SSCN(nn.Module):
    """Encoder/decoder plus the siamese embedding h (one bias-free linear layer to K*q dims)."""

    def __init__(self, n_clusters: int, q: int, in_channels: int = 1, image_size: int = 28):
        super().__init__()
        if n_clusters < 1 or q < 1:
            raise ValueError(f"n_clusters and q must be >= 1, got {n_clusters}, {q}")
        self.ae = SSCNAutoencoder(in_channels, image_size)
        d_z = int(np.prod(self.ae.code_shape))
        self.h = nn.Linear(d_z, n_clusters * q, bias=False)
        nn.init.xavier_uniform_(self.h.weight)
        self.n_clusters, self.q = n_clusters, q

    @torch.no_grad()
    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.h(self.ae.encode(x))


def count_parameters(*modules) -> int:
    """Trainable parameters, ``sum(p.numel())`` (the paper's #Parameters; R counts d_H^2)."""
    total = 0
    for m in modules:
        if isinstance(m, torch.Tensor):
            total += m.numel()
        else:
            total += sum(p.numel() for p in m.parameters() if p.requires_grad)
    return total


# --- Definition 3, without the classifier term ------------------------------------------------

def sscn_terms(x: torch.Tensor, z: torch.Tensor, h: torch.Tensor, decode) -> dict:
    """The three terms of eq. (3) on one mini-batch (rows are points; Q = H H^T).

    ||Q||_F^2 is computed as ||H^T H||_F^2 and ZQ as H (H^T Z): both d_H-sized, never b x b.
    ``decode`` maps the self-expressed codes back to inputs (None: Definition 2, no decoder)."""
    HtH = h.T @ h
    zq = h @ (h.T @ z)
    terms = {"q": 0.5 * (HtH * HtH).sum(), "selfexp": 0.5 * (z - zq).pow(2).sum()}
    terms["rec"] = 0.5 * (x - decode(zq)).pow(2).sum() if decode is not None else z.new_zeros(())
    return terms


def sscn_loss(terms: dict, lambda1: float, lambda2: float) -> torch.Tensor:
    """Eq. (3) without L_clf: 1/2||Q||^2 + lambda1/2||Z - ZQ||^2 + lambda2/2||X - X^||^2."""
    return terms["q"] + lambda1 * terms["selfexp"] + lambda2 * terms["rec"]


def _check(**values) -> None:
    for name, v in values.items():
        if v < 0:
            raise ValueError(f"sscn.{name} must be >= 0, got {v}")


def pretrain_sscn_autoencoder(x: torch.Tensor, *, epochs: int, lr: float, seed: int,
                              batch_size: int | None = None, progress: bool = True):
    """The reference setting's autoencoder pre-training: Adam on the summed squared
    reconstruction error, full batch (``batch_size`` None) or mini-batches. Returns (ae, curve)."""
    _check(epochs=epochs, lr=lr)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    ae = SSCNAutoencoder(x.shape[1], x.shape[-1]).to(x.device)
    opt = torch.optim.Adam(ae.parameters(), lr=lr)
    bs = len(x) if not batch_size else min(batch_size, len(x))
    curve = []
    for epoch in tqdm(range(1, epochs + 1), desc="sscn-ae", disable=None if progress else True,
                      leave=False):
        total = 0.0
        for idx in torch.randperm(len(x), generator=gen).split(bs):
            xb = x[idx.to(x.device)]
            loss = 0.5 * (xb - ae.decode(ae.encode(xb))).pow(2).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item()
        curve.append({"epoch": epoch, "rec_per_point": total / len(x)})
    return ae, curve


def train_sscn(model: SSCN, x: torch.Tensor, *, lambda1: float, lambda2: float, batch_size: int,
               epochs: int, lr: float, gen: torch.Generator, progress: bool = True) -> list[dict]:
    """Step 1: Adam on encoder, decoder and h with eq. (3) (without L_clf) on mini-batches
    drawn uniformly at random without replacement (shuffled each epoch, last partial batch
    dropped, as in the reference code). Returns the per-epoch loss curve; the final epoch's
    model is the result (no selection)."""
    _check(lambda1=lambda1, lambda2=lambda2, batch_size=batch_size, epochs=epochs, lr=lr)
    if batch_size < 1:
        raise ValueError("sscn.batch_size must be >= 1")
    bs = min(batch_size, len(x))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    curve = []
    for epoch in tqdm(range(1, epochs + 1), desc="sscn", disable=None if progress else True,
                      leave=False):
        sums, nb = {"loss": 0.0, "q": 0.0, "selfexp": 0.0, "rec": 0.0}, 0
        perm = torch.randperm(len(x), generator=gen)
        for k in range(len(x) // bs):
            xb = x[perm[k * bs:(k + 1) * bs].to(x.device)]
            z = model.ae.encode(xb)
            terms = sscn_terms(xb, z, model.h(z), model.ae.decode)
            loss = sscn_loss(terms, lambda1, lambda2)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            nb += 1
            sums["loss"] += loss.item()
            for key in ("q", "selfexp", "rec"):
                sums[key] += terms[key].item()
        curve.append({"epoch": epoch, **{k: v / max(nb, 1) for k, v in sums.items()}})
    return curve


@torch.no_grad()
def embed_batches(model: SSCN, X, batch_size: int = 2000, device="cpu") -> np.ndarray:
    """H = h(enc(X)) for an array (or memmap) of images, one batch at a time (float32)."""
    out = np.empty((len(X), model.h.out_features), dtype=np.float32)
    for s in range(0, len(X), batch_size):
        xb = torch.as_tensor(np.asarray(X[s:s + batch_size], dtype=np.float32), device=device)
        out[s:s + len(xb)] = model.embed(xb).cpu().numpy()
    return out


# --- clustering the training set from H, block by block --------------------------------------

def _threshold_rows(Qb: np.ndarray, rho: float) -> sp.csr_matrix:
    """Per row, keep the largest |q| until their sum reaches rho times the row's L1 norm (the
    DSC-Net 'post_proC' thresholding; Q is symmetric, so its rows are its columns). Returns
    the kept entries as a sparse matrix. Only the sorted values are needed (a value sort is
    ~3x faster than an argsort): the cut is the smallest kept |q| of each row."""
    A = np.abs(Qb)
    desc = np.sort(A, axis=1)[:, ::-1]
    cs = np.cumsum(desc, axis=1, dtype=np.float64)
    k = (cs[:, :-1] < rho * cs[:, -1:]).sum(axis=1)         # kept per row, minus one
    cut = desc[np.arange(len(A)), k]
    r, c = np.nonzero(A >= cut[:, None])
    return sp.csr_matrix((Qb[r, c].astype(np.float64), (r, c)), shape=Qb.shape)


def sscn_affinity(H: np.ndarray, n_clusters: int, postprocess: str = "dscnet", *, rho: float = 0.1,
                  d: int = 9, alpha: float = 8.0, block: int = 1000, seed: int = 0) -> np.ndarray:
    """Affinity of the training set from the coefficients Q = H H^T (dense float32, n x n),
    built ``block`` rows at a time, never holding Q itself.

    - 'none': A = 1/2(|Q| + |Q|^T) = |Q| (Q is symmetric).
    - 'dscnet': DSC-Net's post-processing (REFERENCE.md section 4), the maths of
      ``deepsc.cluster.dscnet_postprocess``: the rho-thresholded Q is kept sparse; its top
      r = d*K+1 singular vectors are the eigenvectors of largest |eigenvalue| of that sparse
      symmetric matrix (``eigsh``, about 3x faster than ``svds`` here, same subspace);
      A = max(U U^T, 0)^alpha / max is written block by block.
    """
    H = np.asarray(H, dtype=np.float32)
    n = len(H)
    if not 1 <= n_clusters <= n:
        raise ValueError(f"n_clusters={n_clusters} must be between 1 and the number of points ({n})")
    if postprocess == "none":
        A = np.empty((n, n), dtype=np.float32)
        for s in range(0, n, block):
            np.abs(H[s:s + block] @ H.T, out=A[s:s + block])
        return A
    if postprocess != "dscnet":
        raise ValueError(f"unknown post-processing {postprocess!r}; use 'none' or 'dscnet'")
    if not 0 < rho <= 1:
        raise ValueError(f"rho must be in (0, 1], got {rho}")
    Cp = sp.vstack([_threshold_rows(H[s:s + block] @ H.T, rho) for s in range(0, n, block)])
    Cp = (0.5 * (Cp + Cp.T)).tocsr()   # the thresholded rows are Q's columns; symmetrise
    k = min(d * n_clusters + 1, n - 1)
    lam, U = eigsh(Cp, k=k, which="LM", v0=np.random.default_rng(seed).uniform(-1, 1, n))
    del Cp
    U = normalize(U * np.sqrt(np.abs(lam))[None, :]).astype(np.float32)
    A = np.empty((n, n), dtype=np.float32)
    power = int(alpha) if float(alpha).is_integer() and alpha > 0 else None
    top = 0.0
    for s in range(0, n, block):
        Ab = A[s:s + block]
        np.matmul(U[s:s + block], U.T, out=Ab)
        np.maximum(Ab, 0, out=Ab)
        if power is not None and power & (power - 1) == 0:     # 1, 2, 4, 8, ...: squarings
            while power > 1:
                np.square(Ab, out=Ab)
                power //= 2
            power = int(alpha)
        else:
            np.power(Ab, alpha, out=Ab)
        top = max(top, float(Ab.max()))
    A /= max(top, 1e-30)
    return A   # U U^T is symmetric, so A is too


def spectral_clustering_inplace(A: np.ndarray, k: int, seed: int = 0, n_init: int = 10):
    """Ng-Jordan-Weiss spectral clustering of a dense float32 affinity, normalised in place
    (D^-1/2 A D^-1/2 overwrites A), the same steps as ``deepsc.cluster.spectral_clustering``
    without its float64 copies (a 10,000-point affinity is 381 MiB in float32)."""
    dinv = (1.0 / np.sqrt(np.maximum(A.sum(axis=1, dtype=np.float64), 1e-12))).astype(A.dtype)
    A *= dinv[:, None]
    A *= dinv[None, :]
    _, V = eigsh(A, k=k, which="LA", v0=np.random.default_rng(seed).uniform(-1, 1, len(A)),
                 tol=1e-6)
    return KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit_predict(normalize(V))


def cluster_embeddings(H: np.ndarray, n_clusters: int, postprocess: str, seed: int = 0,
                       block: int = 1000, **pp) -> np.ndarray:
    """Transductive labels of the training set: affinity from Q = H H^T, spectral clustering."""
    A = sscn_affinity(H, n_clusters, postprocess, block=block, seed=seed,
                      **{k: v for k, v in pp.items() if k in ("rho", "d", "alpha")})
    return spectral_clustering_inplace(A, n_clusters, seed)


# --- the inductive classifier: a rotation on the Stiefel manifold -----------------------------

class RotationClassifier:
    """p(j | h) = softmax_j(-||R h - S_j S_j^T R h||^2) with S_j the j-th block of q axes
    (fixed), R in St(d_H, d_H) (SSCN, text before Definition 3). R is float64 and starts at I."""

    def __init__(self, n_clusters: int, q: int, dtype=torch.float64):
        self.n_clusters, self.q = n_clusters, q
        self.R = torch.eye(n_clusters * q, dtype=dtype)

    def logits(self, H: torch.Tensor, R: torch.Tensor | None = None) -> torch.Tensor:
        R = self.R if R is None else R
        Hr = H.to(R.dtype) @ R.T                              # rows: (R h_i)^T
        in_block = Hr.pow(2).view(len(Hr), self.n_clusters, self.q).sum(-1)
        return -(Hr.pow(2).sum(1, keepdim=True) - in_block)   # minus squared projection distance

    @torch.no_grad()
    def predict(self, H, batch_size: int = 10000) -> np.ndarray:
        H = torch.as_tensor(np.asarray(H))
        return torch.cat([self.logits(H[s:s + batch_size]).argmax(1)
                          for s in range(0, len(H), batch_size)]).numpy()


class CayleyAdam:
    """Cayley-Adam (Li, Fuxin & Todorovic, ICLR 2020, Algorithm 2) for one matrix X with
    orthonormal columns: Adam-style first moment and a scalar second moment, the momentum
    projected to the tangent space through the skew-symmetric W, the step size capped at
    2q/||W||, and the descent step's Cayley transform Y = (I + a/2 W)^-1 (I - a/2 W) X computed
    exactly (a linear solve) instead of with the paper's fixed-point iteration
    Y <- X - a/2 W (X + Y), which converges to it.
    The Cayley transform of a skew-symmetric W is orthogonal, so X^T X = I is kept."""

    def __init__(self, lr: float = 0.1, betas=(0.9, 0.99), eps: float = 1e-8, q: float = 0.5):
        if lr <= 0 or not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"invalid Cayley-Adam settings lr={lr}, betas={betas}")
        self.lr, self.b1, self.b2, self.eps, self.q = lr, betas[0], betas[1], eps, q
        self.M, self.v, self.k = None, 1.0, 0

    @torch.no_grad()
    def step(self, X: torch.Tensor, G: torch.Tensor) -> torch.Tensor:
        self.k += 1
        if self.M is None:
            self.M = torch.zeros_like(X)
        self.M = self.b1 * self.M + (1 - self.b1) * G
        self.v = self.b2 * self.v + (1 - self.b2) * float((G * G).sum())
        v_hat = self.v / (1 - self.b2 ** self.k)
        r = (1 - self.b1 ** self.k) * (v_hat + self.eps) ** 0.5
        W_hat = self.M @ X.T - 0.5 * X @ (X.T @ self.M @ X.T)
        W = (W_hat - W_hat.T) / r
        self.M = r * W @ X
        a = min(self.lr, 2 * self.q / (float(torch.linalg.matrix_norm(W)) + self.eps))
        eye = torch.eye(len(W), dtype=W.dtype)
        return torch.linalg.solve(eye + 0.5 * a * W, (eye - 0.5 * a * W) @ X)


def train_classifier(H: np.ndarray, pseudo: np.ndarray, n_clusters: int, q: int, *, epochs: int,
                     batch_size: int, lr: float, betas=(0.9, 0.99), gen: torch.Generator,
                     lambda3: float = 1.0, iters_per_batch: int = 1
                     ) -> tuple[RotationClassifier, list[dict]]:
    """Step 2: R by Cayley-Adam on lambda3 * cross-entropy(classifier(H), pseudo-labels), on
    the trained (fixed) embeddings H of the training set, mini-batches drawn uniformly at random,
    ``iters_per_batch`` Cayley-Adam steps on each (the reference code takes 10).
    The reference code re-embeds all points every epoch to log accuracy; here the embeddings are
    computed once and the curve records the epoch's mean loss and its agreement with the
    pseudo-labels."""
    _check(epochs=epochs, lr=lr, lambda3=lambda3)
    clf = RotationClassifier(n_clusters, q)
    opt = CayleyAdam(lr=lr, betas=tuple(betas))
    Ht = torch.as_tensor(np.asarray(H, dtype=np.float32))
    y = torch.as_tensor(np.asarray(pseudo), dtype=torch.long)
    bs = min(batch_size, len(Ht))
    curve = []
    for epoch in range(1, epochs + 1):
        perm, total = torch.randperm(len(Ht), generator=gen), 0.0
        for s in range(0, len(Ht) - bs + 1, bs):
            idx = perm[s:s + bs]
            for _ in range(iters_per_batch):
                R = clf.R.clone().requires_grad_(True)
                loss = lambda3 * nn.functional.cross_entropy(clf.logits(Ht[idx], R), y[idx])
                (G,) = torch.autograd.grad(loss, R)
                clf.R = opt.step(clf.R, G)
            total += loss.item() * len(idx)
        agree = float((torch.as_tensor(clf.predict(Ht)) == y).double().mean())
        curve.append({"epoch": epoch, "clf_loss": total / (len(Ht) // bs * bs), "agreement": agree})
    return clf, curve


def predict_images(model: SSCN, clf: RotationClassifier, X, batch_size: int = 2000,
                   device="cpu") -> np.ndarray:
    """Out-of-sample clustering: enc, h, rotation, nearest axis-aligned subspace, one batch at
    a time. Memory does not grow with len(X) beyond the label vector (X may be a memmap)."""
    labels = np.empty(len(X), dtype=np.int64)
    with torch.no_grad():
        for s in range(0, len(X), batch_size):
            xb = torch.as_tensor(np.asarray(X[s:s + batch_size], dtype=np.float32), device=device)
            labels[s:s + len(xb)] = clf.predict(model.embed(xb).cpu())
    return labels


class PhaseTimer:
    """Wall time per named phase (the benchmark and the stage report them)."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    def __call__(self, name: str):
        timer = self

        class _Phase:
            def __enter__(self):
                self.t0 = time.perf_counter()

            def __exit__(self, *exc):
                timer.seconds[name] = timer.seconds.get(name, 0.0) + time.perf_counter() - self.t0

        return _Phase()


def run_sscn(x_train: np.ndarray, ae_state: dict, *, n_clusters: int, q: int, lambda1: float,
             lambda2: float, lambda3: float, batch_size: int, epochs: int, lr: float,
             clf_epochs: int, clf_batch_size: int, clf_lr: float, clf_betas, seed: int,
             clf_iters_per_batch: int = 1,
             postprocess: list[str], pseudo_labels: str, pp_params: dict, block: int = 1000,
             device: str = "cpu", progress: bool = True) -> dict:
    """One seed of SSCN on a training set: step 1 from the pre-trained autoencoder, the
    transductive labels per post-processing, step 2 on the ``pseudo_labels`` post-processing's
    labels. Returns the model, the classifier, the labels, the curves and the time per phase."""
    if pseudo_labels not in postprocess:
        raise ValueError(f"sscn.pseudo_labels={pseudo_labels!r} must be one of cluster.postprocess "
                         f"{postprocess}")
    timer = PhaseTimer()
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    x = torch.as_tensor(x_train, dtype=torch.float32, device=device)
    model = SSCN(n_clusters, q, x.shape[1], x.shape[-1]).to(device)
    model.ae.load_state_dict(ae_state)
    with timer("selfexpression"):
        curve = train_sscn(model, x, lambda1=lambda1, lambda2=lambda2, batch_size=batch_size,
                           epochs=epochs, lr=lr, gen=gen, progress=progress)
    model.eval()
    with timer("embed"):
        H = embed_batches(model, x_train, device=device)
    labels = {}
    for pp in postprocess:
        with timer(f"spectral_{pp}"):
            labels[pp] = cluster_embeddings(H, n_clusters, pp, seed=seed, block=block,
                                            **pp_params.get(pp, {}))
    with timer("classifier"):
        clf, clf_curve = train_classifier(H, labels[pseudo_labels], n_clusters, q,
                                          epochs=clf_epochs, batch_size=clf_batch_size, lr=clf_lr,
                                          betas=clf_betas, gen=gen, lambda3=lambda3,
                                          iters_per_batch=clf_iters_per_batch)
    return {"model": model.cpu(), "clf": clf, "H": H, "labels": labels, "curve": curve,
            "clf_curve": clf_curve, "seconds": timer.seconds,
            "parameters": count_parameters(model, clf.R)}
