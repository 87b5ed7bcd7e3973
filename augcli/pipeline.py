"""A pipeline: ops in canonical order, planned (random draws) separately from applied (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
from PIL import Image

from . import distort as D
from . import geometry as G
from . import warping as W
from .ops import OPS, ORDER, Op, from_record
from .seeding import PLAN_SCHEME

Step = dict[str, Any]  # {"op": name, "applied": bool, **params}


@dataclass(frozen=True)
class WarpSettings:
    fill_mode: str = "nearest"
    cval: float = 0.0
    interpolation: str = "bilinear"

    def __post_init__(self) -> None:
        if self.fill_mode not in W.FILL_MODES:
            raise ValueError(f"fill mode must be one of {', '.join(W.FILL_MODES)}, not {self.fill_mode!r}")
        if self.interpolation not in W.INTERPOLATIONS:
            raise ValueError(f"interpolation must be one of {', '.join(W.INTERPOLATIONS)}, not {self.interpolation!r}")
        if isinstance(self.cval, bool) or not isinstance(self.cval, (int, float)) or not np.isfinite(self.cval):
            raise ValueError(f"cval must be a finite number, not {self.cval!r}")


PLAN_SCHEMES = (1, 2)
UNKNOWN = object()  # a renderer's nodes not given: it works them out


@dataclass(frozen=True)
class Pipeline:
    """``ops`` are kept in the registry's canonical order; at most one op of each name.

    ``plan_scheme``: how plans are drawn from a seed (augcli.seeding) and how the geometric steps'
    matrices are composed: 1 in numpy (what runs recorded before scheme 2 used), 2 in plain Python
    floats (``geometry.compose_rows``). A manifest's pipeline records it, so a replay composes its
    recorded steps as the run did."""

    ops: tuple[Op, ...] = ()
    warp: WarpSettings = WarpSettings()
    plan_scheme: int = PLAN_SCHEME

    def __post_init__(self) -> None:
        names = [op.name for op in self.ops]
        if len(set(names)) != len(names):
            raise ValueError(f"each op may appear once, got {names}")
        if isinstance(self.plan_scheme, bool) or self.plan_scheme not in PLAN_SCHEMES:
            raise ValueError(f"plan scheme must be one of {', '.join(map(str, PLAN_SCHEMES))}, "
                             f"not {self.plan_scheme!r}")
        object.__setattr__(self, "ops", tuple(sorted(self.ops, key=lambda op: ORDER[op.name])))
        # looked up per step of every output: by name, and the names each stage of a render acts on
        object.__setattr__(self, "_by_name", {op.name: op for op in self.ops})
        object.__setattr__(self, "_draws", tuple((op, op.name, op.p, op.geometric, getattr(op, "uses_objects", False))
                                                 for op in self.ops))
        object.__setattr__(self, "_displacing", frozenset(op.name for op in self.ops if op.displaces))
        object.__setattr__(self, "_pixel_stage", frozenset(op.name for op in self.ops
                                                            if op.pixel_stage and not op.displaces))
        if any(op.displaces for op in self.ops) and any(op.name == "letterbox" for op in self.ops):
            raise ValueError("--letterbox (or --resize-mode fit|fill) cannot be combined with --elastic, "
                             "--grid-distort or --lens yet")
        displacing = [op.name for op in self.ops if op.displaces]
        if displacing and self.warp.interpolation not in D.INTERPOLATIONS:
            raise ValueError(f"{displacing[0]} resamples with {' or '.join(D.INTERPOLATIONS)} only, "
                             f"not --interpolation {self.warp.interpolation}")

    # -- planning -------------------------------------------------------------------------------

    def plan(self, rng_for: Callable[[str], np.random.Generator], size: G.Size) -> list[Step]:
        """Draw every op's decision and params. ``rng_for(op_name)`` gives each op its own stream,
        so adding an op never changes what another op draws."""
        return self.plan_with_geometry(rng_for, size)[0]

    @property
    def uses_objects(self) -> bool:
        """Whether an op draws from the source's objects (``plan_with_geometry``'s ``objects``)."""
        return any(getattr(op, "uses_objects", False) for op in self.ops)

    def plan_with_geometry(self, rng_for: Callable[[str], np.random.Generator], size: G.Size,
                           objects: Sequence[tuple[float, float, float, float]] | None = None,
                           ) -> tuple[list[Step], tuple[np.ndarray, G.Size]]:
        """``plan`` and the plan's ``geometry`` together: the geometric ops' matrices, which the plan
        needs for the output size anyway, are made once (the same products, in the same order).
        ``objects``: the source's objects as edge-coordinate boxes on the image as loaded
        (augcli.labels.extents), for the ops that draw from them; each gets them on its own canvas."""
        steps: list[Step] = []

        def sample(op: Op, rng: Any, size: G.Size, matrix: Any) -> dict[str, Any]:
            if objects is None or not getattr(op, "uses_objects", False):
                return op.sample(rng, size)
            on_canvas = G.boxes_forward(matrix, objects) if matrix is not None else list(objects)
            return op.sample(rng, size, objects=on_canvas)  # type: ignore[call-arg]

        if self.plan_scheme == 1:
            m = G.identity()
            for op in self.ops:
                rng = rng_for(op.name)
                applied = bool(rng.random() < op.p)
                params = sample(op, rng, size, m) if applied else {}
                steps.append({"op": op.name, "applied": applied, **params})
                if applied and op.geometric:
                    m_op, size = op.matrix(params, size)
                    m = m @ m_op
            return steps, (m, size)
        rows = None
        for op, name, p, geometric, reads in self._draws:
            rng = rng_for(name)
            if rng.random() < p:
                if objects is None or not reads:
                    params = op.sample(rng, size)
                else:  # the matrix so far, made only for an op that reads the objects on its canvas
                    params = sample(op, rng, size, None if rows is None else G.rows_matrix(rows))
                steps.append({"op": name, "applied": True, **params})
                if geometric:
                    m_op, size = G.op_rows(op, params, size)
                    rows = m_op if rows is None else G.compose_rows(rows, m_op)
            else:
                steps.append({"op": name, "applied": False})
        return steps, (G.rows_matrix(rows or G.IDENTITY_ROWS), size)

    def check(self, plan: Any, size: G.Size) -> None:
        """Raise ValueError unless ``plan`` is one this pipeline could have drawn for a source of
        ``size``: a step for each of its ops, in order, and each applied op's params within that
        op's settings (``Op.check``). A plan read back from a manifest goes through here first."""
        if not isinstance(plan, list) or len(plan) != len(self.ops):
            raise ValueError(f"the plan must list the pipeline's {len(self.ops)} op(s), each once")
        for op, step in zip(self.ops, plan):
            if not isinstance(step, dict) or step.get("op") != op.name or not isinstance(step.get("applied"), bool):
                raise ValueError(f"step {op.name!r} expected, as {{\"op\": {op.name!r}, \"applied\": true|false, ...}}")
            params = _params(step)
            if not step["applied"]:
                if params:
                    raise ValueError(f"{op.name}: a step that is not applied has no params")
                continue
            op.check(params, size)
            if op.geometric:
                size = op.matrix(params, size)[1]  # type: ignore[attr-defined]

    # -- applying -------------------------------------------------------------------------------

    def _op(self, name: str) -> Op:
        op = self._by_name.get(name)
        if op is None:
            raise KeyError(f"the plan names op {name!r}, which this pipeline does not have")
        return op

    def geometry(self, plan: Sequence[Step], size: G.Size) -> tuple[np.ndarray, G.Size]:
        """The complete output -> input mapping of a plan's geometric steps and the output size."""
        if self.plan_scheme == 1:
            m = G.identity()
            for step in plan:
                op = self._op(step["op"])
                if op.geometric and step["applied"]:
                    m_op, size = op.matrix(_params(step), size)
                    m = m @ m_op
            return m, size
        rows = None
        for step in plan:
            op = self._op(step["op"])
            if op.geometric and step["applied"]:
                m_op, size = G.op_rows(op, _params(step), size)
                rows = m_op if rows is None else G.compose_rows(rows, m_op)
        return G.rows_matrix(rows or G.IDENTITY_ROWS), size

    def check_pixels(self, max_pixels: int) -> None:
        """Raise ValueError when an output could have more than ``max_pixels`` pixels: the inputs
        are held to that limit, and a letterbox's output size is its own."""
        for op in self.ops:
            target = getattr(op, "target", None)
            if target is not None and target[0] * target[1] > max_pixels:
                raise ValueError(f"{op.name} {target[0]}x{target[1]} is more than max_pixels ({max_pixels}) pixels")

    def window(self, plan: Sequence[Step]) -> tuple[int, int, int, int] | None:
        """The output pixels (x0, y0, x1, y1) a plan's image fills when a letterbox pads it, else
        None. Outside them the output is padding: labels and masks are cut there too."""
        if "letterbox" not in self._by_name:
            return None
        for step in plan:
            if step["op"] == "letterbox" and step["applied"]:
                return self._op("letterbox").window(_params(step))  # type: ignore[attr-defined]
        return None
    def distortion(self, plan: Sequence[Step], size: G.Size) -> D.Nodes | None:
        """The node grid of a plan's distortion steps on the affine output's canvas ``size`` (the
        plan's geometry size), or None when no distortion op is applied."""
        if not self._displacing:
            return None
        return D.nodes_for([(op, _params(step)) for step in plan
                            if step["applied"] and (op := self._op(step["op"])).displaces], size)

    def apply(self, image: Image.Image, plan: Sequence[Step]) -> Image.Image:
        """Apply a plan: all geometry in one resampling, then the pixel work in canonical order."""
        return self.renderer(image, [plan])(plan)

    def renderer(self, image: Image.Image, plans: Sequence[Sequence[Step]],
                 geometries: Sequence[tuple[np.ndarray, G.Size]] | None = None, *,
                 consume: bool = False) -> Callable[..., Image.Image]:
        """A function applying plans to one source. Given all the plans of its copies up front, the
        copies share the work they have in common: the source is converted and extended by the
        fill rule once, not once per copy. ``geometries``: the plans' ``self.geometry(plan,
        image.size)``, if the caller has them already. ``consume``: the caller gives ``image`` up (it
        reads neither its pixels nor the image again), which lets a large source be packed in its
        own memory (``warping.Warper``)."""
        # a distorted copy reads the image itself, so it is not given up to the warper
        distorts = bool(self._displacing) and any(step["applied"] and step["op"] in self._displacing
                                                  for plan in plans for step in plan)
        warper = W.Warper(image, fill_mode=self.warp.fill_mode, cval=self.warp.cval,
                          interpolation=self.warp.interpolation, consume=consume and not distorts)
        warper.reserve(geometries if geometries is not None else [self.geometry(p, image.size) for p in plans])

        def render(plan: Sequence[Step], geometry: tuple[np.ndarray, G.Size] | None = None,
                   nodes: Any = UNKNOWN) -> Image.Image:
            """``geometry``: the plan's ``self.geometry(plan, image.size)``, and ``nodes`` its
            ``self.distortion(plan, size)``, if already at hand (the labels need them too)."""
            matrix, size = geometry or self.geometry(plan, image.size)
            if nodes is UNKNOWN:
                nodes = self.distortion(plan, size)
            if nodes is None or nodes.is_identity():  # a zero field: the warp (an exact copy where it is one)
                out, owned = warper.warp(matrix, size), warper.fresh
            else:  # the affine warp and the distortions in one resampling
                # (D.remap always makes a new image, so the render owns it as it owns a warp's)
                out, owned = D.remap(image, nodes, matrix, fill_mode=self.warp.fill_mode, cval=self.warp.cval,
                                     interpolation=self.warp.interpolation), True
            window = self.window(plan)
            if window is not None:  # a letterbox's bands: padding, whatever lies beyond its input
                out = self._op("letterbox").pad(out, window, self.warp.cval)  # type: ignore[attr-defined]
            # ``owned``: nothing but this render holds ``out``, so a value map may write over it
            # (Op.into) instead of making a new image
            for step in plan:
                if step["applied"] and step["op"] in self._pixel_stage:  # a policy: its matrix is in the warp
                    op = self._op(step["op"])
                    made = op.into(out, _params(step)) if owned else op.after_warp(out, _params(step))
                    owned = op.fresh and (owned or made is not out)
                    out = made
            return out

        return render

    def for_labels(self) -> tuple["Pipeline", list[str]]:
        """The pipeline a run that carries labels uses (``Op.for_labels``), and a line for each op
        that changes because of it."""
        pairs = [op.for_labels() for op in self.ops]
        return Pipeline(tuple(op for op, _ in pairs), self.warp, self.plan_scheme), [n for _, n in pairs if n]

    # -- records --------------------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        return {
            "ops": [{"op": op.name, **op.options()} for op in self.ops],
            "fill_mode": self.warp.fill_mode,
            "cval": self.warp.cval,
            "interpolation": self.warp.interpolation,
            "plan_scheme": self.plan_scheme,
        }

    @classmethod
    def from_description(cls, desc: Mapping[str, Any]) -> "Pipeline":
        """The pipeline a manifest describes; one recorded before plan schemes existed is scheme 1."""
        ops = tuple(from_record(d["op"], {k: v for k, v in d.items() if k != "op"}) for d in desc["ops"])
        return cls(ops, WarpSettings(desc["fill_mode"], desc["cval"], desc["interpolation"]),
                   desc.get("plan_scheme", 1))


def _params(step: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in step.items() if k not in ("op", "applied")}


def op_names() -> Iterable[str]:
    return OPS.keys()
