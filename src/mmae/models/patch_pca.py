"""``patch_pca``: a classical, non-neural yardstick: PCA reconstruction of local patches.

Fitting (``fit_data``, no optimiser): every ``patch_size`` x ``patch_size`` patch of the good
training images on a grid of step ``stride`` is a vector of ``D = C * patch_size**2`` values. Their
mean and covariance are accumulated batch by batch in float64 (Chan et al.'s pairwise update, so
memory stays bounded by one batch of patches and the ``D x D`` covariance), and the covariance's
eigenvectors (``torch.linalg.eigh``) are the principal components, ordered by variance, each with
its largest entry positive. ``components`` keeps either a fraction in (0, 1) of the patch variance
(the smallest count that explains more than it, scikit-learn's rule) or an integer count.
With ``center_patches`` every patch's per-channel mean (its local brightness) is removed before
the PCA and kept exactly (the per-channel constant patches are prepended to the basis), so the
components spend themselves on structure rather than on shading.

Inference reconstructs every patch at stride 1 (dense, overlapping) by projecting it onto the kept
components, and averages the overlapping patch reconstructions back into an image. Both steps are
convolutions: the projection is ``conv2d`` with the components as kernels, the overlap-add is the
transposed convolution with the same kernels (``fold``), divided by the number of patches covering
each pixel. The anomaly map is the reconstruction models' map, the squared l2 error over channels
``((x - recon) ** 2).sum(1)``, and the score its maximum.

The fitted state lives in buffers (``mean``, ``basis``, ``eigenvalues``, ``num_components``),
so ``state_dict`` checkpoints it and the forward pass exports to ONNX (convolutions only).

Defaults (16 px patches, fit stride 2, 95% of the variance, no per-patch mean removal) were chosen
on the six synthetic categories at 64 px (``mmae benchmark --preset bench-cpu``, fit stride 4):
mean AU-PRO 0.71-0.84 with 4 px patches, 0.84-0.88 with 8 px, 0.88-0.91 with 16 px (16 px at least
as good as 8 px in every category); 90/95/99% of the variance within 0.015 of each other (16 px);
removing the patch means gained up to 0.03 on carpet and screw but cost 0.12 on grid. The fit
stride matters on periodic textures: a stride that divides the period shows the fit only some
phases of it, which dense inference then meets as anomalies (grid 0.89 at strides 4 and 8, 0.96
at 2, 0.97 at 1, other categories within 0.01); stride 2 costs a quarter of stride 1's fit.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmae.models.encoders import check_positive_int
from mmae.models.output import ModelOutput
from mmae.models.registry import ModelSpec, register_model

_MAX_PATCH_VALUES = 1 << 23  # patches x D per accumulation step (64 MiB in float64)


class PatchPCA(nn.Module):
    """PCA reconstruction of local patches, fitted on good images (``fit_data``).

    Args:
        in_channels: Input channels (3 RGB, 1 grayscale).
        image_size: Side of the square training images (inputs may be any size >= a patch).
        patch_size: Side of the square patches, in pixels.
        stride: Step between the patches used for fitting (inference uses every patch).
        components: Fraction in (0, 1) of the patch variance to keep, or a count >= 1 of
            principal components.
        center_patches: Remove each patch's per-channel mean before the PCA and keep it exactly.
    """

    trainable = False

    def __init__(
        self,
        in_channels: int = 3,
        image_size: int = 256,
        patch_size: int = 16,
        stride: int = 2,
        components: float = 0.95,
        center_patches: bool = False,
    ) -> None:
        super().__init__()
        for name, value in (("in_channels", in_channels), ("image_size", image_size),
                            ("patch_size", patch_size), ("stride", stride)):
            check_positive_int(name, value)
        if patch_size > image_size:
            raise ValueError(f"patch_size {patch_size} is larger than image_size {image_size}")
        dim = in_channels * patch_size**2
        free = dim - (in_channels if center_patches else 0)
        if not isinstance(components, (int, float)) or isinstance(components, bool):
            raise ValueError(f"components must be a number, got {components!r}")
        components = float(components)
        if not 0 < components < 1 and not (components.is_integer() and 1 <= components <= free):
            raise ValueError(f"components={components:g} must be a fraction in (0, 1) or an "
                              f"integer count from 1 to {free} (patch dimension {dim})")
        self.kind = "image"
        self.in_channels = in_channels
        self.image_size = image_size
        self.patch_size = patch_size
        self.stride = stride
        self.components = components
        self.center_patches = bool(center_patches)
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("basis", torch.zeros(dim, dim))
        self.register_buffer("eigenvalues", torch.zeros(dim))
        self.register_buffer("num_components", torch.zeros((), dtype=torch.long))
        self._k = 0  # kept columns of ``basis``: a Python int, so the export sees fixed shapes
        self.register_load_state_dict_post_hook(_sync_kept)

    @property
    def fitted(self) -> bool:
        """Whether ``fit_data`` has run (or a fitted state was loaded)."""
        return self._k > 0

    def _patches(self, x: Tensor) -> Tensor:
        """Fit patches of a batch, ``(N, D)`` float64, per-channel centred if configured."""
        p = F.unfold(x.float(), self.patch_size, stride=self.stride)  # (B, D, L)
        p = p.transpose(1, 2).reshape(-1, p.shape[1]).double()
        if self.center_patches:
            q = p.view(p.shape[0], self.in_channels, -1)
            p = (q - q.mean(dim=2, keepdim=True)).view(p.shape[0], -1)
        return p

    @torch.no_grad()
    def fit_data(self, batches: Iterable[Tensor]) -> None:
        """Fit the patch PCA on batches of good images ``(B, C, H, W)`` in [0, 1].

        Raises:
            ValueError: no batch, or images of the wrong channel count or smaller than a patch.
        """
        dim = self.mean.numel()
        n, mean, m2 = 0, torch.zeros(dim, dtype=torch.float64), torch.zeros(dim, dim,
                                                                            dtype=torch.float64)
        for x in batches:
            if x.dim() != 4 or x.shape[1] != self.in_channels or min(x.shape[2:]) < self.patch_size:
                raise ValueError(f"patch_pca: expected images (B, {self.in_channels}, H, W) with "
                                f"H, W >= {self.patch_size}, got {tuple(x.shape)}")
            per_image = math.prod((n_px - self.patch_size) // self.stride + 1
                                  for n_px in x.shape[2:])
            step = max(1, _MAX_PATCH_VALUES // (per_image * dim))
            for i in range(0, x.shape[0], step):
                p = self._patches(x[i : i + step]).cpu()
                nb, mb = p.shape[0], p.mean(dim=0)
                pc = p - mb
                delta = mb - mean
                total = n + nb
                m2 += pc.T @ pc + torch.outer(delta, delta) * (n * nb / total)
                mean += delta * (nb / total)
                n = total
        if n == 0:
            raise ValueError("patch_pca: no training images to fit")
        values, vectors = torch.linalg.eigh(m2 / n)
        values, vectors = values.flip(0).clamp_min(0), vectors.flip(1)
        rows = vectors.abs().argmax(dim=0)
        vectors = vectors * torch.sign(vectors[rows, torch.arange(dim)])[None]
        k = self._count(values)
        if self.center_patches:  # prepend the per-channel constant patches, kept exactly
            c = self.in_channels
            const = torch.zeros(dim, c, dtype=torch.float64)
            for ch in range(c):
                const[ch * self.patch_size**2 : (ch + 1) * self.patch_size**2, ch] = (
                    1.0 / self.patch_size)
            vectors = torch.cat([const, vectors[:, : dim - c]], dim=1)
            values = torch.cat([values.new_full((c,), float("nan")), values[: dim - c]])
            k += c
        self.mean.copy_(mean)
        self.basis.copy_(vectors)
        self.eigenvalues.copy_(values)
        self.num_components.fill_(k)
        self._k = k

    def _count(self, values: Tensor) -> int:
        """Number of components (without the constant patches) that ``components`` asks for."""
        if self.components >= 1:
            return int(self.components)
        total = float(values.sum())
        if total <= 0:
            return 1
        ratio = torch.cumsum(values, 0) / total
        return int(torch.searchsorted(ratio, torch.tensor(self.components, dtype=ratio.dtype),
                                      right=True)) + 1

    def _centred(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Input and dense reconstruction less the mean patch's per-channel level, and the level.

        Working on deviations from the level rather than on raw intensities keeps float32
        rounding (convolution sums of hundreds of terms) small against the residual.
        """
        if not self.fitted:
            raise RuntimeError("patch_pca is not fitted: call fit_data (mmae train) first")
        if x.dim() != 4 or x.shape[1] != self.in_channels or min(x.shape[2:]) < self.patch_size:
            raise ValueError(f"expected input (B, {self.in_channels}, H, W) with H, W >= "
                             f"{self.patch_size}, got {tuple(x.shape)}")
        c, s = self.in_channels, self.patch_size
        mean = self.mean.view(c, s * s)
        level = mean.mean(dim=1)
        mean = (mean - level[:, None]).reshape(-1)
        w = self.basis[:, : self._k]
        kernels = w.T.reshape(self._k, c, s, s)
        xc = x - level.view(1, c, 1, 1)
        coeff = F.conv2d(xc, kernels) - (mean @ w).view(1, -1, 1, 1)
        ones = x.new_ones(1, 1, x.shape[2] - s + 1, x.shape[3] - s + 1)
        summed = F.conv_transpose2d(coeff, kernels) + F.conv_transpose2d(
            ones, mean.view(1, c, s, s))
        count = F.conv_transpose2d(ones, x.new_ones(1, 1, s, s))
        return xc, summed / count, level.view(1, c, 1, 1)

    def reconstruct(self, x: Tensor) -> Tensor:
        """Dense reconstruction of images ``(B, C, H, W)``: overlapping patches averaged."""
        _, recon, level = self._centred(x)
        return recon + level

    def forward(self, x: Tensor) -> ModelOutput:
        """Reconstruct ``x``; in eval mode also the squared-error map and its maximum."""
        xc, recon, level = self._centred(x)
        anomaly_map = pred_score = None
        if not self.training:
            anomaly_map = ((xc - recon) ** 2).sum(dim=1, keepdim=True)
            pred_score = anomaly_map.flatten(1).amax(dim=1)
        return ModelOutput(recon + level, anomaly_map, pred_score, (), {})

    def loss(self, x: Tensor, out: ModelOutput) -> dict[str, Tensor]:
        """The reconstruction error, for logging only (the model has nothing to optimise)."""
        mse = F.mse_loss(out.recon.detach(), x)
        return {"loss": mse, "mse": mse}

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, patch_size={self.patch_size}, "
                f"stride={self.stride}, components={self.components:g}, "
                f"center_patches={self.center_patches}, kept={self._k}")


def _sync_kept(module: nn.Module, incompatible: object) -> None:
    """After ``load_state_dict``: the number of kept components from the loaded buffer."""
    module._k = int(module.num_components)


@register_model("patch_pca")
def _patch_pca() -> ModelSpec:
    return ModelSpec(PatchPCA, {}, "image",
                     "Patch PCA (classical baseline): PCA reconstruction of 16x16 patches "
                     "(95% of the variance), fitted without training")
