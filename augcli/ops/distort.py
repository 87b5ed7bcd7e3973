"""Non-affine geometry: elastic deformation, grid distortion and lens distortion.

They run after the affine geometry (in one resampling with it: augcli.distort) and before every
pixel op. Each one's params are JSON-ready and small: the elastic field's seed, the grid's node
offsets, the lens coefficient; the field itself is rebuilt from them. Labels move with the field
(augcli.labels.distorted) and masks follow it by nearest neighbour.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Mapping

from .base import Op, check_keys, check_list, check_number, lazy_module, noise_seed
from .flags import Flag, Number, Pair

if TYPE_CHECKING:
    from PIL import Image

    from .. import distort as D
    from .. import geometry as G
else:
    D = lazy_module("augcli.distort")

GRID_CELLS = 5  # augcli.distort.GRID_CELLS (not imported: that module loads numpy)


@dataclass(frozen=True, kw_only=True)
class DistortOp(Op):
    """An op that moves pixels by a displacement field: ``field(params, size)`` is its backward map
    (output pixel -> the pixel it shows, centre coordinates, on (n, 2) float arrays)."""

    displaces: ClassVar[bool] = True

    def field(self, params: Mapping[str, Any], size: G.Size) -> D.Field:
        raise NotImplementedError

    def grid_shift(self) -> int:
        """log2 of the remap node spacing this op's field needs."""
        return 3

    def apply(self, image: Image.Image, params: Mapping[str, Any]) -> Image.Image:
        nodes = D.Nodes(self.field(params, image.size), image.size, self.grid_shift())
        return D.remap(image, nodes, [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])


@dataclass(frozen=True, kw_only=True)
class Elastic(DistortOp):
    """Simard et al. (2003): uniform(-1, 1) noise smoothed by a Gaussian of ``sigma`` pixels and
    scaled by ``alpha``, made on a coarse lattice (augcli.distort.elastic_lattice). Params: {"alpha",
    "sigma" (the op's), "seed"}."""

    name: ClassVar[str] = "elastic"
    flags: ClassVar[tuple[Flag, ...]] = (
        Flag("--elastic", Pair(second=50.0),
             "Elastic deformation (Simard): a random field smoothed by a Gaussian of SIGMA px (default 50), "
             "scaled by ALPHA.", metavar="ALPHA[:SIGMA]", field="alpha_sigma"),
    )
    params: ClassVar[str] = ("seed of the field (32-bit), with ALPHA and SIGMA (pixels, as in Simard 2003 / "
                             "AlbumentationsX ElasticTransform)")
    default: ClassVar[str] = "300:20"
    summary: ClassVar[str] = "elastic deformation: a smoothed random displacement field (Simard 2003)"
    alpha_sigma: tuple[float, float] = (0.0, 50.0)

    def __post_init__(self) -> None:
        super().__post_init__()
        alpha, sigma = (float(v) for v in self.alpha_sigma)
        if not 0.0 <= alpha <= 1e6:
            raise ValueError(f"elastic: ALPHA={alpha:g} must be between 0 and 1e6")
        if not 1.0 <= sigma <= 1e4:
            raise ValueError(f"elastic: SIGMA={sigma:g} must be between 1 and 10000 pixels")
        object.__setattr__(self, "alpha_sigma", (alpha, sigma))

    def sample(self, rng, size):
        # alpha and sigma are the op's own, recorded so that a step says what field it made
        return {"alpha": self.alpha_sigma[0], "sigma": self.alpha_sigma[1], "seed": noise_seed(rng)}

    def check(self, params, size):
        check_keys(self.name, params, ("alpha", "sigma", "seed"))
        check_number(self.name, "alpha", params["alpha"], self.alpha_sigma[0], self.alpha_sigma[0])
        check_number(self.name, "sigma", params["sigma"], self.alpha_sigma[1], self.alpha_sigma[1])
        check_number(self.name, "seed", params["seed"], 0, 2**32 - 1, whole=True)

    def field(self, params, size):
        return D.elastic_field(float(params["alpha"]), float(params["sigma"]), params["seed"], size)

    def grid_shift(self) -> int:
        return min(3, D.elastic_exponent(self.alpha_sigma[1]))


@dataclass(frozen=True, kw_only=True)
class GridDistort(DistortOp):
    """A 5 x 5 grid over the image whose inner nodes move by offsets ~ U(-limit, limit) cells on each
    axis (the border stays), interpolated bilinearly. Params: {"offsets": 16 [dx, dy] pairs}."""

    name: ClassVar[str] = "grid_distort"
    flags: ClassVar[tuple[Flag, ...]] = (
        Flag("--grid-distort", Number(0.0, 0.25),
             "Grid distortion: the inner nodes of a 5x5 grid move by up to S cells (0..0.25) each way.",
             metavar="S", field="limit"),
    )
    params: ClassVar[str] = "offsets: 16 inner nodes of a 5x5 grid, each dx, dy ~ U(-S, S) cells"
    default: ClassVar[str] = "0.2"
    summary: ClassVar[str] = "grid distortion: a coarse grid of random offsets, interpolated"
    limit: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        # up to 1/4 the map stays one-to-one: a cell's Jacobian determinant is at least 1 - 4 S
        # (each axis stretched by 1 +- 2 S, sheared by at most 2 S each way), so labels have one place
        if not 0.0 <= float(self.limit) <= 0.25:
            raise ValueError(f"grid-distort: S={self.limit!r} must be between 0 and 0.25 cells")

    def sample(self, rng, size):
        n = (GRID_CELLS - 1) ** 2
        return {"offsets": [[float(rng.uniform(-self.limit, self.limit)), float(rng.uniform(-self.limit, self.limit))]
                            for _ in range(n)]}

    def check(self, params, size):
        check_keys(self.name, params, ("offsets",))
        for pair in check_list(self.name, "offsets", params["offsets"], (GRID_CELLS - 1) ** 2):
            for v in check_list(self.name, "offset", pair, 2):
                check_number(self.name, "offset", v, -self.limit, self.limit)

    def field(self, params, size):
        return D.grid_field(params["offsets"], size)


@dataclass(frozen=True, kw_only=True)
class Lens(DistortOp):
    """Radial lens distortion about the centre: k ~ U(-K, K) (augcli.distort.lens_field). Params: {"k"}."""

    name: ClassVar[str] = "lens"
    flags: ClassVar[tuple[Flag, ...]] = (
        Flag("--lens", Number(0.0, 0.3),
             "Lens distortion: radial, k ~ U(-K, K) (0..0.3); k > 0 barrel, k < 0 pincushion.",
             metavar="K", field="limit"),
    )
    params: ClassVar[str] = "k ~ U(-K, K): a point at radius r reads from r (1 + k (r / half-diagonal)^2)"
    default: ClassVar[str] = "0.2"
    summary: ClassVar[str] = "lens distortion: radial barrel / pincushion (one coefficient)"
    limit: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        # beyond 1/3 a pincushion folds inside the image (d(r g) / dr = 1 + 3 k r^2 / R^2 < 0 at the
        # corners): a point would have two places, and labels one of them
        if not 0.0 <= float(self.limit) <= 0.3:
            raise ValueError(f"lens: K={self.limit!r} must be between 0 and 0.3")

    def sample(self, rng, size):
        return {"k": float(rng.uniform(-self.limit, self.limit))}

    def check(self, params, size):
        check_keys(self.name, params, ("k",))
        check_number(self.name, "k", params["k"], -self.limit, self.limit)

    def field(self, params, size):
        return D.lens_field(params["k"], size)


# canonical order (applied to the image in this order, after the affine warp)
FAMILY = (Elastic, GridDistort, Lens)
FLAG_ORDER = (Elastic, GridDistort, Lens)
