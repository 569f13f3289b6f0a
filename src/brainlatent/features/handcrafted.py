"""Weight-free image features: colour, orientation and spatial frequency.

The simulated stimuli are procedural images built from exactly these three
properties, so these features give a decodable target (and a sanity baseline
for the real data) without downloading any network weights. Each function maps
one RGB image (``uint8`` array, H×W×3) to a fixed-length ``float32`` vector,
whatever the input size.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image

#: Bins per HSV channel in :func:`color_histogram`.
HIST_BINS = 8
#: Side of the square grayscale image HOG is computed on; fixes the HOG length.
HOG_SIZE = 64
HOG_PIXELS_PER_CELL = 16
HOG_CELLS_PER_BLOCK = 2
HOG_ORIENTATIONS = 8
#: Side of the square grayscale image the spectrum is computed on.
FFT_SIZE = 128
FFT_N_FREQUENCIES = 8
FFT_N_ORIENTATIONS = 8
#: Centre spatial frequencies (cycles per image), one octave-ish apart, up to near Nyquist.
FFT_FREQUENCIES = np.geomspace(2.0, 48.0, FFT_N_FREQUENCIES)

#: Longest side images are shrunk to before histogramming (the histogram is a
#: fraction of pixels, so this only saves time on large photographs).
_HIST_MAX_SIDE = 256


def color_histogram(rgb: np.ndarray) -> np.ndarray:
    """Per-channel HSV histograms, concatenated (3 × 8 = 24 dims), summing to 1.

    HSV rather than RGB so that hue (which colour), saturation (how colourful)
    and value (how bright) are separate axes, as in the stimulus generator.
    Hue bins are centred on 0°, 45°, … (red, orange, …).
    """
    image = Image.fromarray(rgb)
    if max(image.size) > _HIST_MAX_SIDE:
        image = image.copy()
        image.thumbnail((_HIST_MAX_SIDE, _HIST_MAX_SIDE), Image.Resampling.BILINEAR)
    hsv = np.asarray(image.convert("HSV")).reshape(-1, 3).astype(np.int64)
    # Rotate hue by half a bin so red (hue 0, where the circle wraps) falls in
    # the middle of a bin instead of being split between the first and last.
    hsv[:, 0] = (hsv[:, 0] + 256 // (2 * HIST_BINS)) % 256
    edges = np.linspace(0, 256, HIST_BINS + 1)
    hists = [np.histogram(hsv[:, c], bins=edges)[0] for c in range(3)]
    vector = np.concatenate(hists).astype(np.float64)
    return (vector / vector.sum()).astype(np.float32)


def _gray(rgb: np.ndarray, size: int) -> np.ndarray:
    """Grayscale in [0, 1], resized to ``size``×``size`` so feature length is fixed."""
    image = Image.fromarray(rgb).convert("L").resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.float64) / 255.0


def hog(rgb: np.ndarray) -> np.ndarray:
    """Histogram of oriented gradients on a 64×64 grayscale image (288 dims).

    Captures local edge orientation and its layout; 64 px with 16 px cells and
    2×2-cell blocks gives 3×3 blocks × 4 cells × 8 orientations.
    """
    from skimage.feature import hog as skimage_hog

    features = skimage_hog(
        _gray(rgb, HOG_SIZE),
        orientations=HOG_ORIENTATIONS,
        pixels_per_cell=(HOG_PIXELS_PER_CELL, HOG_PIXELS_PER_CELL),
        cells_per_block=(HOG_CELLS_PER_BLOCK, HOG_CELLS_PER_BLOCK),
        block_norm="L2-Hys",
        feature_vector=True,
    )
    return features.astype(np.float32)


def hog_dim() -> int:
    blocks = HOG_SIZE // HOG_PIXELS_PER_CELL - HOG_CELLS_PER_BLOCK + 1
    return blocks * blocks * HOG_CELLS_PER_BLOCK**2 * HOG_ORIENTATIONS


@lru_cache(maxsize=1)
def _fft_pooling() -> tuple[np.ndarray, np.ndarray]:
    """Pooling weights (64 × FFT_SIZE², rows sum to 1) and the Hann window.

    Each row is a soft (Gaussian) bin in log spatial frequency × orientation,
    like a log-Gabor filter bank: hard bins would be empty at low frequencies,
    where the discrete spectrum has only a handful of samples.
    """
    fy = np.fft.fftfreq(FFT_SIZE) * FFT_SIZE  # cycles per image
    fx = np.fft.fftfreq(FFT_SIZE) * FFT_SIZE
    fy, fx = np.meshgrid(fy, fx, indexing="ij")
    radius = np.hypot(fx, fy)
    # Orientation of the spectral component modulo pi (the amplitude spectrum
    # of a real image is point-symmetric): 0 = energy along fx = vertical stripes.
    angle = np.mod(np.arctan2(fy, fx), np.pi)
    valid = radius >= 1.0  # drop DC: it is the mean luminance, not structure
    log_r = np.log(np.where(valid, radius, 1.0))

    step = np.log(FFT_FREQUENCIES[1] / FFT_FREQUENCIES[0])
    centres_theta = np.arange(FFT_N_ORIENTATIONS) * np.pi / FFT_N_ORIENTATIONS
    sigma_r = step / 2.0
    sigma_theta = np.pi / FFT_N_ORIENTATIONS / 2.0
    weights = np.empty((FFT_N_FREQUENCIES, FFT_N_ORIENTATIONS, FFT_SIZE, FFT_SIZE))
    for i, f in enumerate(FFT_FREQUENCIES):
        radial = np.exp(-((log_r - np.log(f)) ** 2) / (2 * sigma_r**2)) * valid
        for j, theta in enumerate(centres_theta):
            d = np.angle(np.exp(2j * (angle - theta))) / 2.0  # circular distance mod pi
            weights[i, j] = radial * np.exp(-(d**2) / (2 * sigma_theta**2))
    weights = weights.reshape(FFT_N_FREQUENCIES * FFT_N_ORIENTATIONS, -1)
    weights /= weights.sum(axis=1, keepdims=True)
    window = np.outer(np.hanning(FFT_SIZE), np.hanning(FFT_SIZE))
    return weights, window


def fft(rgb: np.ndarray) -> np.ndarray:
    """Log-amplitude spectrum pooled in 8 spatial frequencies × 8 orientations (64 dims).

    Row-major: index ``i * 8 + j`` is frequency ``FFT_FREQUENCIES[i]`` and
    orientation ``j * 22.5°`` of the spectral component (0° = vertical stripes).
    The mean is removed and a Hann window applied so the image border does not
    add spurious horizontal/vertical energy.
    """
    weights, window = _fft_pooling()
    gray = _gray(rgb, FFT_SIZE)
    amplitude = np.abs(np.fft.fft2((gray - gray.mean()) * window))
    return (weights @ np.log1p(amplitude).ravel()).astype(np.float32)
