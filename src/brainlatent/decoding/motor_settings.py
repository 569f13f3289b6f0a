"""The `motor` config section turned into each cross-session method's keyword settings.

The scripts of the motor chain stay thin: which config keys reach which method
(the Wiener filter's for every decoder, PCA's for ``aligned``, CEBRA's and
SABLE's own) is decided here, once, and unit-tested.
"""

from __future__ import annotations

from collections.abc import Mapping


def n_window_bins(bin_s: float, window_s: tuple[float, float]) -> int:
    """Bins of ``bin_s`` in ``window_s``: a whole number, or a ValueError (here, free of the
    binning's imports, so that the plan checks the config by the same rule)."""
    if bin_s <= 0:
        raise ValueError(f"bin_s must be positive; got {bin_s}")
    if not window_s[0] < window_s[1]:
        raise ValueError(f"window_s must be (start, stop) with start < stop; got {window_s}")
    n = (window_s[1] - window_s[0]) / bin_s
    if abs(n - round(n)) > 1e-6:
        raise ValueError(f"window_s {window_s} is not a whole number of {bin_s} s bins")
    return int(round(n))


#: Keys of `motor.decoder` every Wiener filter reads.
DECODER_KEYS = ("n_lags", "alphas", "smoothing_s")


def method_settings(motor: Mapping, seed: int = 0) -> dict[str, dict]:
    """``{method: kwargs}`` for :func:`brainlatent.decoding.cross_session.evaluate`."""
    decoder = {key: motor["decoder"][key] for key in DECODER_KEYS}
    decoder["alphas"] = tuple(float(a) for a in decoder["alphas"])
    out = {"within": dict(decoder), "fixed": dict(decoder)}
    if "aligned" in motor:
        out["aligned"] = {**decoder, **motor["aligned"]}
    if "cebra" in motor:
        out["cebra"] = {**decoder, **motor["cebra"], "random_state": seed}
    if "sable" in motor:
        out["sable"] = sable_params(motor, seed)
    return out


def sable_params(motor: Mapping, seed: int = 0, device: str = "cpu") -> dict:
    """SABLE's constructor parameters from `motor.sable` (null: SABLE's default), seed, device."""
    given = {key: value for key, value in motor["sable"].items() if value is not None}
    return {**given, "random_state": seed, "device": device}
