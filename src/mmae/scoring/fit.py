"""Fitting post-processing statistics on normal images (once, when training ends).

:func:`fit_postprocess` runs the model over normal inputs and installs in a
:class:`~mmae.scoring.postprocess.PostProcess` what its settings need:

* ``gaussian`` term: the mean of the patch embeddings and the inverse of the Cholesky factor of
  their covariance (plus ``gaussian_ridge`` times its mean variance on the diagonal), pooled
  over positions or per position;
* ``knn`` term: a memory bank of ``knn_bank`` patch embeddings drawn at random (seeded);
* ``standardize``: per term, the mean and spread of its normal maps, over every pixel
  (``pooled``) or per pixel (``position``; the spread floored at a tenth of the pooled one, so a
  pixel that never varies in normal images does not divide by zero).

The statistics come from the run's training images (the held-out split stays independent for
the threshold, which is set on it afterwards).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch
from torch import Tensor

from mmae.device import eval_mode
from mmae.errors import ConfigError
from mmae.scoring import terms as T
from mmae.scoring.postprocess import PostProcess

FIT_SPLIT = "train"  # the statistics come from the training images, never the threshold's split


def check_model(post: PostProcess, model: torch.nn.Module, name: str) -> None:
    """Raise ConfigError when a feature term is asked of a model without encoder features."""
    if post.needs_features and not T.has_features(model):
        used = [t for t in post.terms if t in T.FEATURE_TERMS]
        raise ConfigError(f"map_terms={'+'.join(post.terms)}: model {name} has no encoder "
                          f"features for {', '.join(used)}; use model, ssim or gradient")


def feature_stats(post: PostProcess, model: torch.nn.Module, batches: Iterable[Tensor],
                   device: torch.device, seed: int) -> dict[str, Tensor]:
    """Gaussian and memory-bank statistics of the normal patch embeddings."""
    pooled = post.feature_fit == "pooled"
    s1 = s2 = None
    count = 0
    rows: list[Tensor] = []
    for x in batches:
        emb = post.embedding(model, x.to(device)).double()  # (B, D, h, w)
        e = emb.flatten(2).transpose(1, 2)  # (B, P, D)
        if "knn" in post.terms:
            rows.append(e.reshape(-1, e.shape[-1]).float().cpu())
        if "gaussian" in post.terms:
            if pooled:
                flat = e.reshape(-1, e.shape[-1])
                a, b = flat.sum(0), flat.t() @ flat
                count += flat.shape[0]
            else:
                a, b = e.sum(0), torch.einsum("bpd,bpe->pde", e, e)
                count += e.shape[0]
            s1 = a if s1 is None else s1 + a
            s2 = b if s2 is None else s2 + b
    out: dict[str, Tensor] = {}
    if "gaussian" in post.terms:
        mean = s1 / count
        cov = s2 / count - mean.unsqueeze(-1) * mean.unsqueeze(-2)
        d = cov.shape[-1]
        eye = torch.eye(d, dtype=cov.dtype, device=cov.device)
        ridge = post.gaussian_ridge * cov.diagonal(dim1=-2, dim2=-1).mean(-1).clamp_min(1e-12)
        cov = cov + ridge[..., None, None] * eye
        chol = torch.linalg.cholesky(cov)  # cov = C C^T; W = C^-1 whitens: W^T W = cov^-1
        eye_b = eye.expand_as(chol)
        whiten = torch.linalg.solve_triangular(chol, eye_b, upper=False)
        out["gauss_mean"] = mean.float().cpu()
        out["gauss_whiten"] = whiten.float().cpu()
    if "knn" in post.terms:
        bank = torch.cat(rows)
        g = torch.Generator().manual_seed(int(seed))
        if bank.shape[0] > post.knn_bank:
            bank = bank[torch.randperm(bank.shape[0], generator=g)[: post.knn_bank]]
        out["bank"] = bank.contiguous()
    return out


def normal_maps(post: PostProcess, model: torch.nn.Module, batches: Iterable[Tensor],
                device: torch.device) -> Iterator[dict[str, Tensor]]:
    """The raw term maps of normal batches (video: the per-pixel clip error)."""
    for x in batches:
        x = x.to(device)
        out = model(x)
        yield ({"model": post.video_error(out.anomaly_map)} if post.kind == "video"
               else post.term_maps(model, x, out))


def standardize_stats(standardize: str, maps: Iterable[dict[str, Tensor]]) -> dict[str, Tensor]:
    """Per-term mean and spread of normal maps (``pooled`` or per ``position``).

    Args:
        standardize: ``pooled`` or ``position``.
        maps: Batches of term maps, name -> ``(B, *spatial)``.
    """
    s1: dict[str, Tensor] = {}
    s2: dict[str, Tensor] = {}
    count = 0
    for batch in maps:
        for name, m in batch.items():
            m = m.double()
            s1[name] = s1.get(name, 0) + m.sum(0)
            s2[name] = s2.get(name, 0) + (m * m).sum(0)
        count += next(iter(batch.values())).shape[0]
    stats: dict[str, Tensor] = {}
    for name in s1:
        mean_pos = s1[name] / count
        var_pos = (s2[name] / count - mean_pos ** 2).clamp_min(0)
        mean_all = mean_pos.mean()
        var_all = (s2[name].mean() / count - mean_all ** 2).clamp_min(1e-24)
        if standardize == "pooled":
            mean, scale = mean_all, var_all.sqrt()
        else:
            mean, scale = mean_pos, (var_pos + 0.01 * var_all).sqrt()
        stats[f"mean_{name}"] = mean.float().cpu()
        stats[f"scale_{name}"] = scale.float().cpu()
    return stats


def fit_postprocess(post: PostProcess, model: torch.nn.Module,
                    batches: Callable[[], Iterable[Tensor]], device: torch.device,
                    seed: int = 0, name: str = "model") -> dict[str, Any]:
    """Fit ``post``'s statistics on normal inputs; install them and return the saved record.

    Args:
        post: The unfitted post-processing module (its settings say what to fit).
        model: The trained model.
        batches: A function returning a fresh iterable of normal input batches.
        device: Where the model runs.
        seed: Seed of the memory bank's subsample.
        name: The model's name, for error messages.

    Returns:
        ``{"settings", "fit_split", "num_inputs", "state"}`` (the ``postprocess.pt`` record).
    """
    check_model(post, model, name)
    post.to(device)
    state: dict[str, Tensor] = {}
    n = 0
    with eval_mode(model), torch.no_grad():
        if any(t in T.NORMAL_TERMS for t in post.terms):
            feats = feature_stats(post, model, batches(), device, seed)
            post.load_fitted({k: v.to(device) for k, v in feats.items()})
            state.update(feats)
        if post.standardize != "none":
            std = standardize_stats(post.standardize,
                                    normal_maps(post, model, batches(), device))
            post.load_fitted({k: v.to(device) for k, v in std.items()})
            state.update(std)
        n = sum(int(x.shape[0]) for x in batches()) if state else 0
    return {"settings": post.fit_settings(), "fit_split": FIT_SPLIT, "num_inputs": n,
            "state": state}
