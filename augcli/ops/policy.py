"""The policy op: RandAugment, TrivialAugment Wide or AugMix drawn per output (augcli.ops.policies)
as one step of the pipeline. Its geometric sub-ops are part of the output's one warp (the policy's
``matrix``), its pixel sub-ops run right after the warp (``after_warp``), and its params record
every sub-op applied, so a replay renders them without drawing. It comes after the geometric ops
and before the colour ops in the canonical order."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

from . import policies as P
from .base import G, GeometricOp, W, check_keys, check_list, check_number
from .flags import Flag, Spec


@dataclass(frozen=True, kw_only=True)
class Policy(GeometricOp):
    """``spec``: ``randaugment[:N:M]`` (N ops, magnitude bin M of 31; default 2, 9),
    ``trivialaugment`` (one op at a random bin of 31) or ``augmix[:W:D]`` (W chains of 1..D ops,
    blended; default 3, 3), each with torchvision's op list and magnitudes. ``label_safe``: only
    ops that labels can follow (set when a run carries labels; see ``policies.table``).
    Params: {"ops": [sub-op, ...]}, or for AugMix {"original": w, "chains": [{"weight": w, "ops":
    [...]}, ...]}, a sub-op being {"op": NAME, **params}."""

    name: ClassVar[str] = "policy"
    flags: ClassVar[tuple[Flag, ...]] = (
        Flag("--policy", Spec(P.KINDS),
             "randaugment[:N:M], trivialaugment or augmix[:W:D]: torchvision's policies, drawn per output.",
             metavar="NAME[:N:M]", field="spec"),
    )
    params: ClassVar[str] = ("randaugment: N ops (default 2), each ~ U(14), at bin M (default 9) of 31; "
                             "trivialaugment: 1 op ~ U(14) at a bin ~ U{0..30}; augmix: W chains (default 3) "
                             "of U{1..D} ops (default 3) ~ U(13) at bins U{0, 1, 2} of 10, mixed with weights "
                             "Dirichlet(1) and the original by Beta(1, 1)")
    default: ClassVar[str] = "randaugment:2:9"
    summary: ClassVar[str] = ("automatic augmentation (torchvision RandAugment, TrivialAugmentWide, AugMix); "
                              "geometry in the one warp")
    pixel_stage: ClassVar[bool] = True  # its pixel sub-ops run after the warp
    spec: str = "randaugment"
    label_safe: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.label_safe, bool):
            raise ValueError(f"policy: label_safe={self.label_safe!r} must be true or false")
        kind, numbers = P.parse(self.spec)
        object.__setattr__(self, "spec", P.unparse(kind, numbers))

    @property
    def kind(self) -> str:
        return P.parse(self.spec)[0]

    @property
    def numbers(self) -> tuple[int, ...]:
        return P.parse(self.spec)[1]

    def for_labels(self) -> tuple["Policy", str | None]:
        """This policy as a run that carries labels uses it, and the line that says what it leaves out."""
        gone = P.left_out(self.kind)
        note = (f"augcli: policy: labels are carried, so {self.kind} leaves out {', '.join(gone)} (a blend of "
                "differently warped copies has no one geometry for the labels)") if gone else None
        return replace(self, label_safe=True), note

    def sample(self, rng, size):
        return P.draw(rng, self.kind, self.numbers, self.label_safe, size)[0]

    def check(self, params, size):
        kind, numbers = P.parse(self.spec)
        if kind != "augmix":
            check_keys(self.name, params, ("ops",))
            P.check_chain(kind, numbers, self.label_safe, params["ops"], size,
                          numbers[0] if kind == "randaugment" else 1)
            return
        check_keys(self.name, params, ("original", "chains"))
        check_number(self.name, "original", params["original"], 0.0, 1.0)
        total = float(params["original"])
        for chain in check_list(self.name, "chains", params["chains"], numbers[0]):
            if not isinstance(chain, dict):
                raise ValueError(f"{self.name}: a chain must be {{\"weight\": w, \"ops\": [...]}}")
            check_keys(self.name, chain, ("weight", "ops"))
            check_number(self.name, "weight", chain["weight"], 0.0, 1.0)
            total += float(chain["weight"])
            P.check_chain(kind, numbers, self.label_safe, chain["ops"], size, None, numbers[1])
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"{self.name}: the weights must add up to 1, not {total!r}")

    def matrix(self, params, size):
        if self.kind == "augmix":  # each chain's geometry is its own warp inside the blend
            return G.identity(), size
        return G.rows_matrix(P.rows(params["ops"], size)), size

    def after_warp(self, image, params):
        if self.kind == "augmix":
            return P.mix(image, params)
        return P.pixels(image, params["ops"])

    def apply(self, image, params):
        m, out_size = self.matrix(params, image.size)
        return self.after_warp(W.warp(image, m, out_size), params)


FAMILY = (Policy,)
FLAG_ORDER = FAMILY
