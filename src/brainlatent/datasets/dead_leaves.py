"""Dead-leaves images: grey-scale stand-ins with the statistics of natural photographs.

The dead-leaves model (Matheron; Lee, Mumford & Huang 2001) drops opaque shapes
one behind the other until the picture is covered. With shape sizes drawn from a
power law p(r) ∝ r^-3 the picture is scale invariant, so it has what a
photograph has and a Gabor patch on noise does not: occluding objects with
sharp edges, a roughly 1/f amplitude spectrum, large uniform regions and
contrast that varies from scene to scene. Every image is a function of the seed
alone, so a corpus of any size can be drawn without a download, and the 118
simulated Allen scenes are simply the first draws of their own stream.

Shapes are discs and ellipses (random axes and orientation) of a random grey
level, each with a faint linear shading; pixels are rendered at ``supersample``
times the resolution and averaged down, as a camera's pixel integrates light,
so edges are anti-aliased. Each image then gets its own contrast (a scale about
its mean) and mean luminance, as the Allen photographs differ in both.
"""

from __future__ import annotations

import numpy as np

from brainlatent.seeding import rng

__all__ = ["DeadLeaves", "dead_leaves", "amplitude_spectrum_slope"]

#: Shapes tested together when rendering (256 was fastest at 64 px, 1,586 shapes an image).
RENDER_BLOCK = 256


class DeadLeaves:
    """Parameters of the generator; ``draw(n, size, seed)`` returns float32 (n, size, size).

    ``r_min``/``r_max`` are shape radii as fractions of the image side and
    ``alpha`` the exponent of the radius density ∝ r^-alpha (3: scale invariant).
    ``contrast`` is the range of the per-image contrast scale and ``mean`` that
    of the per-image mean grey level; values are clipped to [0, 1].
    """

    def __init__(
        self,
        r_min: float = 0.02,
        r_max: float = 0.6,
        alpha: float = 3.0,
        contrast: tuple[float, float] = (0.5, 1.0),
        mean: tuple[float, float] = (0.35, 0.65),
        supersample: int = 2,
    ):
        if not 0 < r_min < r_max:
            raise ValueError(f"need 0 < r_min < r_max; got r_min={r_min}, r_max={r_max}")
        if alpha <= 1:
            raise ValueError(f"alpha must be > 1 (a normalisable power law); got {alpha}")
        for name, (lo, hi) in (("contrast", contrast), ("mean", mean)):
            if not 0 <= lo <= hi <= 1:
                raise ValueError(
                    f"{name} must be (low, high) with 0 <= low <= high <= 1; got {(lo, hi)}"
                )
        if int(supersample) < 1:
            raise ValueError(f"supersample must be a positive integer; got {supersample}")
        self.r_min, self.r_max, self.alpha = float(r_min), float(r_max), float(alpha)
        self.contrast, self.mean = tuple(contrast), tuple(mean)
        self.supersample = int(supersample)

    def radii(self, gen: np.random.Generator, n: int) -> np.ndarray:
        """Radii (fractions of the side) from the truncated power law, by inverse transform."""
        a = 1.0 - self.alpha
        lo, hi = self.r_min**a, self.r_max**a
        return (lo + gen.random(n) * (hi - lo)) ** (1.0 / a)

    def n_shapes(self) -> int:
        """Shapes per image: enough that on average under 0.5 % of it is left to the background."""
        a = 1.0 - self.alpha
        # E[r^2] of the truncated power law, times the ellipses' mean area factor (1)
        norm = (self.r_max**a - self.r_min**a) / a
        b = 3.0 - self.alpha
        if abs(b) < 1e-9:
            second = np.log(self.r_max / self.r_min) / norm
        else:
            second = (self.r_max**b - self.r_min**b) / b / norm
        domain = (1 + self.r_max) ** 2
        return int(np.ceil(5.3 * domain / (np.pi * second)))

    def _shapes(self, gen: np.random.Generator) -> dict[str, np.ndarray]:
        """One image's shapes, in drawing order (the first is in front): radius, centre,
        aspect, orientation, grey level (one more: the background) and shading."""
        k = self.n_shapes()
        shapes = {
            "r": self.radii(gen, k),
            "cx": gen.uniform(-self.r_max / 2, 1 + self.r_max / 2, k),
            "cy": gen.uniform(-self.r_max / 2, 1 + self.r_max / 2, k),
            "aspect": np.exp(gen.uniform(-0.7, 0.7, k)),  # ellipses up to 2:1 either way
            "theta": gen.uniform(0, np.pi, k),
            "grey": gen.random(k + 1),  # the last: the background behind every shape
            "shade": gen.normal(0, 0.1, (k, 2)),  # a faint luminance gradient across each
        }
        shapes["cos"], shapes["sin"] = np.cos(shapes["theta"]), np.sin(shapes["theta"])
        return shapes

    @staticmethod
    def _inside(shapes: dict, index, px, py, side: int) -> np.ndarray:
        """Whether pixel (px, py)'s centre lies in shape ``index`` (arrays of equal length)."""
        dx = (px + 0.5) / side - shapes["cx"][index]
        dy = (py + 0.5) / side - shapes["cy"][index]
        c, s = shapes["cos"][index], shapes["sin"][index]
        u = (dx * c + dy * s) * shapes["aspect"][index]
        v = (-dx * s + dy * c) / shapes["aspect"][index]
        return u**2 + v**2 <= shapes["r"][index] ** 2

    def _front(self, shapes: dict, side: int) -> np.ndarray:
        """Each pixel's front-most (earliest-drawn) covering shape; the shape count where none.

        Shapes are tested in blocks of :data:`RENDER_BLOCK`, in drawing order, and only on the
        pixels no earlier block covered: after the first blocks most of the image is covered,
        so most later shapes cost only their bounding box's indices (0.8x the CPU of testing
        every shape on every pixel of its box, with the same result; the indices are the rest).
        """
        r, cx, cy, aspect = shapes["r"], shapes["cx"], shapes["cy"], shapes["aspect"]
        k = r.size
        # bounding boxes in pixels (the ellipse's larger semi-axis), clipped to the image
        reach = r * np.maximum(aspect, 1 / aspect)
        x0 = np.clip(np.floor((cx - reach) * side), 0, side).astype(np.int64)
        x1 = np.clip(np.ceil((cx + reach) * side), 0, side).astype(np.int64)
        y0 = np.clip(np.floor((cy - reach) * side), 0, side).astype(np.int64)
        y1 = np.clip(np.ceil((cy + reach) * side), 0, side).astype(np.int64)
        w, area = x1 - x0, (x1 - x0) * (y1 - y0)
        front = np.full(side * side, k, np.int64)
        for first in range(0, k, RENDER_BLOCK):
            block = slice(first, min(first + RENDER_BLOCK, k))
            index = np.repeat(np.arange(first, block.stop), area[block])
            local = np.arange(index.size) - np.repeat(
                np.cumsum(area[block]) - area[block], area[block]
            )
            px = x0[index] + local % np.maximum(w[index], 1)
            py = y0[index] + local // np.maximum(w[index], 1)
            pixel = py * side + px
            open_ = front[pixel] == k  # else an earlier block's shape is in front
            index, px, py, pixel = index[open_], px[open_], py[open_], pixel[open_]
            inside = self._inside(shapes, index, px, py, side)
            np.minimum.at(front, pixel[inside], index[inside])
        return front

    def _render(self, gen: np.random.Generator, side: int) -> np.ndarray:
        """One image at ``side`` pixels: the front-most shape covering each pixel wins."""
        shapes = self._shapes(gen)
        r, cx, cy, grey, shade = (shapes[key] for key in ("r", "cx", "cy", "grey", "shade"))
        k = r.size
        front = self._front(shapes, side)
        yy, xx = np.divmod(np.arange(side * side), side)
        covered = front < k
        f = front[covered]
        out = np.full(side * side, grey[k])
        out[covered] = (
            grey[f]
            + shade[f, 0] * ((xx[covered] + 0.5) / side - cx[f]) / r[f]
            + shade[f, 1] * ((yy[covered] + 0.5) / side - cy[f]) / r[f]
        )
        return out.reshape(side, side)

    def draw(self, n: int, size: int, seed: int, stream: str = "dead-leaves") -> np.ndarray:
        """``n`` images (float32, n × size × size, in [0, 1]) from ``seed`` and ``stream``.

        Image ``i`` depends only on (seed, stream, i), so the first images of a
        larger draw are the images of a smaller one.
        """
        if int(n) < 0 or int(size) < 4:
            raise ValueError(f"need n >= 0 and size >= 4; got n={n}, size={size}")
        s = self.supersample
        images = np.empty((int(n), int(size), int(size)), np.float32)
        for i in range(int(n)):
            gen = rng(seed, stream, i)
            hi = self._render(gen, size * s)
            img = hi.reshape(size, s, size, s).mean(axis=(1, 3))
            contrast = gen.uniform(*self.contrast)
            level = gen.uniform(*self.mean)
            img = level + contrast * (img - img.mean())
            images[i] = np.clip(img, 0.0, 1.0)
        return images


def dead_leaves(n: int, size: int, seed: int, stream: str = "dead-leaves", **params) -> np.ndarray:
    """``DeadLeaves(**params).draw(n, size, seed, stream)``."""
    return DeadLeaves(**params).draw(n, size, seed, stream)


def amplitude_spectrum_slope(images: np.ndarray, f_range: tuple[float, float] = (2, 0.4)) -> float:
    """Slope of log amplitude vs log spatial frequency, radially averaged over images.

    Natural photographs give about -1 (amplitude ∝ 1/f). ``f_range`` is (lowest
    frequency in cycles per image, highest as a fraction of the image side).
    """
    images = np.asarray(images, dtype=np.float64)
    if images.ndim != 3 or images.shape[1] != images.shape[2]:
        raise ValueError(f"images must be (n, side, side); got {images.shape}")
    side = images.shape[1]
    x = images - images.mean(axis=(1, 2), keepdims=True)
    window = np.outer(np.hanning(side), np.hanning(side))
    power = (np.abs(np.fft.fft2(x * window)) ** 2).mean(axis=0)
    f = np.hypot(*np.meshgrid(np.fft.fftfreq(side) * side, np.fft.fftfreq(side) * side))
    bins = np.arange(1, side // 2 + 1)
    radial = np.array([power[(f >= b - 0.5) & (f < b + 0.5)].mean() for b in bins])
    keep = (bins >= f_range[0]) & (bins <= f_range[1] * side)
    slope = np.polyfit(np.log(bins[keep]), 0.5 * np.log(radial[keep]), 1)[0]
    return float(slope)
