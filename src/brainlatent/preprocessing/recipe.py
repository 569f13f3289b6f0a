"""The MEG preprocessing recipe, apart from the code that runs it.

Kept free of MNE so that planning the workflow (the Snakefile checks the recipe before any
job runs) does not pay MNE's import, 1.7 s of a 3,850-job dry run.
"""

from __future__ import annotations

from dataclasses import dataclass

from brainlatent.errors import ConfigError

#: Seconds each image stays on screen: every event of ds004212's events.tsv lasts 0.5 s, so
#: the default epoch (to 1.0 s) holds the response to the image going off too.
IMAGE_DURATION = 0.5


@dataclass(frozen=True)
class Preprocessing:
    """The preprocessing recipe (see ``things_meg.preprocess`` in the config schema)."""

    l_freq: float | None = 0.1
    h_freq: float | None = 40.0
    tmin: float = -0.5
    tmax: float = 1.0
    sfreq: float = 120.0
    baseline: tuple[float, float] | None = (-0.5, 0.0)
    clip: float | None = 20.0

    @classmethod
    def from_config(cls, recipe: dict) -> Preprocessing:
        """From ``things_meg.preprocess`` (JSON gives the baseline as a list)."""
        recipe = dict(recipe)
        if recipe.get("baseline") is not None:
            recipe["baseline"] = tuple(recipe["baseline"])
        return cls(**recipe)

    def __post_init__(self):
        if self.tmax <= self.tmin:
            raise ConfigError(f"preprocess.tmax ({self.tmax}) must exceed tmin ({self.tmin})")
        if self.l_freq is not None and self.h_freq is not None and self.l_freq >= self.h_freq:
            raise ConfigError(
                f"preprocess.l_freq ({self.l_freq} Hz) must be below h_freq ({self.h_freq} Hz); "
                "MNE would silently make it a band-stop filter"
            )
        if self.h_freq is not None and self.low_pass_stop() > self.sfreq / 2:
            raise ConfigError(
                f"preprocess.h_freq ({self.h_freq} Hz): MNE's low-pass only stops at "
                f"{self.low_pass_stop():g} Hz (its transition band, max(h_freq / 4, 2 Hz)), "
                f"above half of preprocess.sfreq ({self.sfreq} Hz): what lies between "
                f"folds into the downsampled epochs; take h_freq <= {0.4 * self.sfreq:g} Hz"
            )
        if self.baseline is not None and not (
            self.tmin <= self.baseline[0] < self.baseline[1] <= self.tmax
        ):
            raise ConfigError(f"preprocess.baseline {self.baseline} must lie within tmin..tmax")

    def low_pass_stop(self) -> float:
        """Where MNE's low-pass (``h_trans_bandwidth="auto"``) reaches its stop band, in Hz.

        Its transition band is max(h_freq / 4, 2 Hz) wide above ``h_freq`` (less only near
        the raw Nyquist, which 1,200 Hz recordings are far from); frequencies below this
        edge pass partly, so this edge, not ``h_freq``, must stay under the new Nyquist.
        """
        return self.h_freq + max(0.25 * self.h_freq, 2.0)

    def check_rate(self, raw_sfreq: float, source) -> None:
        """Refuse to downsample ``raw_sfreq`` Hz data with no low-pass: it would alias."""
        if self.h_freq is None and raw_sfreq > self.sfreq:
            raise ConfigError(
                f"{source}: preprocess.h_freq is null, so nothing stops what lies above "
                f"{self.sfreq / 2:g} Hz in these {raw_sfreq:g} Hz data from folding into the "
                f"epochs downsampled to {self.sfreq:g} Hz; give a low-pass (e.g. 40)"
            )
