"""A simulated hippocampal recording: a rat running laps on a linear track, CA1 place cells.

Stands in for the rat hippocampus data the CEBRA paper uses (Grosmark & Buzsáki
2016, CRCNS hc-11; rat "achilles": ~120 neurons, spike counts in 25 ms bins,
a 1.6 m linear track, labels position and running direction) so that the
"your own recording" chain has an input with a known ground truth:

* Trajectory: laps alternate right (position increasing) and left. A run
  follows a half-cosine speed profile whose peak speed varies per lap, then
  the rat pauses at the track end with a little positional jitter. The
  direction label of a pause is that of the run that led there.
* Place fields: each neuron has one Gaussian field per running direction,
  with independent centres and widths; the field in the non-preferred
  direction is scaled down by a random factor, so most cells are strongly
  direction-selective as CA1 cells on linear tracks are. A per-lap gain
  (log-normal) adds the lap-to-lap variability of real place cells.
* Non-spatial activity: a fraction of the cells (``nonspatial_fraction``)
  have no place field and follow slow latent processes unrelated to the
  behaviour (two Ornstein-Uhlenbeck processes, ``latent_tau_s``), standing in
  for the interneurons and drifting cells of a real recording; this is
  temporal structure a self-supervised model can find but that does not
  predict position.
* Spikes: Poisson counts per bin from ``baseline + field`` rates (place
  cells) or ``latent_rate_hz · exp(latent drive)`` (non-spatial cells).

Two presets (:data:`PRESETS`, :func:`simulation_from_config`): ``dense``, the
defaults above, an easy case where every method does well; ``sparse``
(:data:`SPARSE`), the statistics of a real spike-sorted recording — about 30
cells at ~0.5 Hz, many silent on the track, fields of varied width and strong
pass-to-pass variability, reward-zone pauses and immobility dropped by a speed
threshold — where kNN on raw 25 ms counts is near the training-median floor.

The NWB file follows common ecephys/behaviour conventions: the counts are a
TimeSeries in ``processing/ecephys`` (and the same spikes, at uniform times inside
their bins, are the file's units table, as a spike-sorted file holds them), position
a SpatialSeries inside ``processing/behavior/Position`` and direction a TimeSeries inside
``processing/behavior/BehavioralTimeSeries``, all on one 40 Hz clock. With a
speed threshold that clock runs over the kept bins, concatenated (as a
running-only recording is usually handed to a decoder); their true times are
``time`` in the ground truth.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from brainlatent.io import atomic_path
from brainlatent.seeding import derive_seed, rng

#: Series names written to the NWB file (the reader is pointed at them by the config).
NEURAL_SERIES = "spike_counts"
POSITION_SERIES = "position"
DIRECTION_SERIES = "direction"
BEHAVIOR_NAMES = (POSITION_SERIES, DIRECTION_SERIES)
DISCRETE = (DIRECTION_SERIES,)
#: Direction codes: 0 running right (position increasing), 1 running left.
RIGHT, LEFT = 0, 1
#: Speed profiles of a run (see :class:`PlaceCellSimulation`).
RUN_PROFILES = ("half_cosine", "plateau")
#: Random-walk step (m per bin) of the position while the rat pauses at a track end.
PAUSE_JITTER_M = 0.002


@dataclass(frozen=True)
class PlaceCellSimulation:
    """Parameters of the simulated session.

    The defaults are the ``dense`` preset (the scale of rat achilles: many
    active cells, clean fields, every bin kept), an easy case; ``sparse``
    (:data:`PRESETS`) is a realistic one. Every field added after the first
    version defaults to a value that reproduces the original simulation
    bit for bit:

    * ``run_profile``: ``"half_cosine"`` (speed rises and falls smoothly over
      the whole track) or ``"plateau"`` (the rat crosses a reward zone of
      ``end_zone_m`` at each end at ``zone_speed_m_s``, accelerates over
      ``ramp_m`` and runs at the lap's peak speed in between).
    * ``min_speed_m_s``: > 0 keeps only the bins where the speed (of the
      position smoothed with a Gaussian of ``speed_sigma_s``) exceeds it, as
      experimenters drop immobility; ``duration_s`` is then the *kept*
      duration and the rat is simulated for as long as that takes. 0 keeps
      every bin.
    * ``peak_rate_log_sd``: each cell's peak rate is ``peak_rate_hz`` times a
      log-normal factor of this log-s.d.; ``baseline_log_sd`` does the same
      for ``baseline_rate_hz`` (0: one shared baseline).
    * ``other_direction_power``: the field in a cell's non-preferred
      direction keeps ``u ** power`` of its peak, ``u ~ U(0, 1)``; larger is
      more unidirectional.
    * ``silent_fraction``: cells with no field at all, firing at their
      baseline only; ``two_field_fraction``: of the place cells, those with a
      second field (in each direction, independent centre and width, a
      ``U(0.3, 1)`` fraction of the first field's peak).
    * ``lap_gain_per_cell``: each cell gets its own mean-one log-normal gain
      (log-s.d. ``lap_gain_sd``) on each lap, instead of one gain shared by
      all cells (a log-normal with log-mean 0).
    """

    n_neurons: int = 120
    duration_s: float = 254.0
    rate_hz: float = 40.0
    track_length_m: float = 1.6
    peak_speed_m_s: tuple[float, float] = (0.5, 1.0)
    pause_s: tuple[float, float] = (0.5, 2.0)
    field_width_m: tuple[float, float] = (0.05, 0.15)
    peak_rate_hz: float = 10.0
    baseline_rate_hz: float = 0.2
    lap_gain_sd: float = 0.25
    nonspatial_fraction: float = 0.25
    latent_tau_s: float = 10.0
    latent_rate_hz: float = 3.0
    seed: int = 0
    run_profile: str = "half_cosine"
    end_zone_m: float = 0.0
    zone_speed_m_s: float = 0.03
    ramp_m: float = 0.2
    min_speed_m_s: float = 0.0
    speed_sigma_s: float = 0.2
    peak_rate_log_sd: float = 0.5
    baseline_log_sd: float = 0.0
    other_direction_power: float = 2.0
    silent_fraction: float = 0.0
    two_field_fraction: float = 0.0
    lap_gain_per_cell: bool = False

    def __post_init__(self):
        if self.n_neurons < 1:
            raise ValueError(f"n_neurons must be at least 1; got {self.n_neurons}")
        if self.duration_s * self.rate_hz < 2:
            raise ValueError("duration_s × rate_hz must give at least 2 samples")
        for name in ("nonspatial_fraction", "silent_fraction", "two_field_fraction"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1]; got {getattr(self, name)}")
        if self.nonspatial_fraction + self.silent_fraction > 1:
            raise ValueError("nonspatial_fraction + silent_fraction must be at most 1")
        if self.run_profile not in RUN_PROFILES:
            raise ValueError(
                f"run_profile must be one of {list(RUN_PROFILES)}; got {self.run_profile!r}"
            )
        if self.run_profile == "plateau" and not (
            self.zone_speed_m_s > 0
            and self.ramp_m > 0
            and 0 <= 2 * self.end_zone_m < self.track_length_m
        ):
            raise ValueError(
                "plateau runs need zone_speed_m_s > 0, ramp_m > 0 and "
                "0 <= end_zone_m < track_length_m / 2"
            )
        if not 0 <= self.min_speed_m_s < min(self.peak_speed_m_s):
            raise ValueError(
                f"min_speed_m_s must be in [0, {min(self.peak_speed_m_s)}) (below the slowest "
                f"lap's peak speed); got {self.min_speed_m_s}"
            )
        if self.speed_sigma_s < 0:
            raise ValueError(f"speed_sigma_s must be non-negative; got {self.speed_sigma_s}")

    @classmethod
    def preset(cls, name: str, **overrides) -> PlaceCellSimulation:
        """The named preset (:data:`PRESETS`) with ``overrides`` replaced."""
        return simulation_from_config({"preset": name, **overrides})


#: The ``sparse`` preset: the statistics of a real, spike-sorted rat CA1 recording on a linear
#: track (31 units, mean rate ≈ 0.5 Hz, 7.1 min of running in 25 ms bins, where kNN on raw
#: counts barely beats the training median and 250 ms smoothing roughly halves the error),
#: with CA1 place-cell properties known in general since O'Keefe & Dostrovsky (1971):
#:
#: * 31 cells, 427.5 s *kept* (17,100 bins at 40 Hz) of bins faster than 5 cm/s, the
#:   immobility threshold experimenters use; the rat crosses 0.3 m reward zones at each end at
#:   4 cm/s (dropped), accelerates over 0.12 m and runs at a peak speed drawn per lap from
#:   0.3–1.2 m/s, so running covers the middle of the track (about an hour simulated in all).
#: * Cell classes: 35 % silent on this track (no field, baseline only: the many CA1 cells
#:   that are quiet in a given environment), 15 % non-spatial (slow latent drive, 1 Hz), the
#:   rest place cells, 20 % of them with a second field.
#: * Fields of s.d. 3–16 cm (a 4 s.d. extent of 7.5–40 % of the track), peak rates log-normal
#:   around 3 Hz (log-s.d. 0.6) so mean rates spread over roughly 0.1–2 Hz with median
#:   ≈ 0.5 Hz; strongly direction-selective (the other direction keeps u³ of the peak), as CA1
#:   cells on linear tracks mostly are; per-cell log-normal baselines around 0.2 Hz.
#: * Each cell's field is scaled on each lap by its own mean-one log-normal gain (log-s.d.
#:   1.2): the large pass-to-pass variability (over-dispersion) of real place cells, under
#:   which single 25 ms bins say little and pooling over time helps. Spikes are Poisson
#:   given these rates.
SPARSE = PlaceCellSimulation(
    n_neurons=31,
    duration_s=427.5,
    peak_speed_m_s=(0.3, 1.2),
    pause_s=(0.5, 2.0),
    field_width_m=(0.03, 0.16),
    peak_rate_hz=3.0,
    peak_rate_log_sd=0.6,
    baseline_rate_hz=0.2,
    baseline_log_sd=0.8,
    lap_gain_sd=1.2,
    lap_gain_per_cell=True,
    nonspatial_fraction=0.15,
    latent_rate_hz=1.0,
    silent_fraction=0.35,
    two_field_fraction=0.2,
    other_direction_power=3.0,
    run_profile="plateau",
    end_zone_m=0.3,
    zone_speed_m_s=0.04,
    ramp_m=0.12,
    min_speed_m_s=0.05,
    speed_sigma_s=0.1,
)
#: Named parameter sets: ``dense`` (the defaults, an easy case: 120 cells, dense rates, clean
#: fields, every bin kept) and ``sparse`` (:data:`SPARSE`, a realistic one).
PRESETS: dict[str, PlaceCellSimulation] = {"dense": PlaceCellSimulation(), "sparse": SPARSE}


def simulation_from_config(settings: Mapping | None = None) -> PlaceCellSimulation:
    """Parameters from a config mapping: ``{"preset": "dense" | "sparse", **overrides}``.

    ``preset`` (default ``dense``) picks a :data:`PRESETS` entry; every other key
    must be a :class:`PlaceCellSimulation` field and replaces that field (lists
    become tuples, as JSON and YAML give lists). Unknown keys raise a
    :class:`ValueError` that names them.
    """
    settings = dict(settings or {})
    name = settings.pop("preset", "dense")
    if name not in PRESETS:
        raise ValueError(f"unknown place-cell preset {name!r}; expected one of {list(PRESETS)}")
    known = {f.name for f in fields(PlaceCellSimulation)}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise ValueError(
            f"unknown place-cell simulation setting(s) {unknown}; "
            f"expected 'preset' or any of {sorted(known)}"
        )
    overrides = {k: tuple(v) if isinstance(v, list) else v for k, v in settings.items()}
    return replace(PRESETS[name], **overrides)


@dataclass(frozen=True)
class PlaceCellSession:
    """Simulated data and its ground truth (arrays on the ``rate_hz`` clock of the kept bins)."""

    counts: np.ndarray  # (time, neurons) int
    rates: np.ndarray  # (time, neurons) expected spikes/s
    position: np.ndarray  # (time,) m
    direction: np.ndarray  # (time,) 0 right, 1 left
    lap: np.ndarray  # (time,) lap index
    centers: np.ndarray  # (neurons, 2) field centre per direction (m)
    widths: np.ndarray  # (neurons, 2) field s.d. per direction (m)
    peaks: np.ndarray  # (neurons, 2) peak rate per direction (Hz); 0 for cells without a field
    place_cell: np.ndarray  # (neurons,) bool: has a place field
    latents: np.ndarray  # (time, 2) the non-spatial latent processes
    params: PlaceCellSimulation
    time: np.ndarray  # (time,) s since the start of the session (gaps where bins were dropped)
    speed: np.ndarray  # (time,) m/s, of the smoothed position
    silent: np.ndarray  # (neurons,) bool: no field, baseline firing only
    baseline: np.ndarray  # (neurons,) baseline rate (Hz)
    centers2: np.ndarray  # (neurons, 2) second field's centre per direction (m)
    widths2: np.ndarray  # (neurons, 2) second field's s.d. (m)
    peaks2: np.ndarray  # (neurons, 2) second field's peak (Hz); 0 for single-field cells

    @property
    def behavior(self) -> np.ndarray:
        """(time, 2): position (m) and direction code, the recording's behaviour columns."""
        return np.column_stack([self.position, self.direction.astype(np.float64)])


def _plateau_run(params: PlaceCellSimulation, peak_speed: float) -> np.ndarray:
    """Distance covered (0 → track length) at each bin of one plateau-profile run."""
    length, dt = params.track_length_m, 1.0 / params.rate_hz
    d = np.linspace(0.0, length, 4001)
    a, r = params.end_zone_m, params.ramp_m
    # Constant acceleration over ramp_m: v² rises linearly with distance.
    ramp = np.clip(np.minimum(d - a, length - a - d) / r, 0.0, 1.0)
    v = np.sqrt(params.zone_speed_m_s**2 + (peak_speed**2 - params.zone_speed_m_s**2) * ramp)
    t = np.concatenate([[0.0], np.cumsum(np.diff(d) * (1 / v[1:] + 1 / v[:-1]) / 2)])
    steps = max(2, int(np.ceil(t[-1] / dt)))
    return np.interp(np.arange(1, steps + 1) * (t[-1] / steps), t, d)


def _speed(position: np.ndarray, params: PlaceCellSimulation) -> np.ndarray:
    """|d position / dt| (m/s) after Gaussian smoothing with ``speed_sigma_s``."""
    from scipy.ndimage import gaussian_filter1d

    sigma = params.speed_sigma_s * params.rate_hz
    smooth = gaussian_filter1d(position, sigma, mode="nearest") if sigma > 0 else position
    return np.abs(np.gradient(smooth)) * params.rate_hz


def _raw_trajectory(params: PlaceCellSimulation):
    """(position, direction, lap, speed, keep) on the full clock, and the kept mask.

    Laps are simulated until ``duration_s × rate_hz`` bins are kept; the arrays
    end at the last kept bin. Speed is computed within each lap (the laps join
    during pauses, where the rat is still).
    """
    gen = rng(params.seed, "trajectory")
    dt = 1.0 / params.rate_hz
    n = int(round(params.duration_s * params.rate_hz))
    length = params.track_length_m
    position, direction, lap, speed, keep = [], [], [], [], []
    kept, k = 0, 0
    while kept < n:
        going = RIGHT if k % 2 == 0 else LEFT
        peak = gen.uniform(*params.peak_speed_m_s)
        if params.run_profile == "half_cosine":
            # Half-cosine profile: peak speed v needs duration π·L / (2·v).
            run = max(2, int(round(np.pi * length / (2 * peak) / dt)))
            s = (1 - np.cos(np.pi * np.arange(1, run + 1) / run)) / 2
        else:
            s = _plateau_run(params, peak) / length
        x = length * (s if going == RIGHT else 1 - s)
        pause = int(round(gen.uniform(*params.pause_s) / dt))
        end = x[-1]
        jitter = np.clip(end + np.cumsum(gen.normal(0, PAUSE_JITTER_M, pause)), 0, length)
        segment = np.concatenate([x, jitter])
        position.append(segment)
        direction.append(np.full(len(segment), going, dtype=np.int64))
        lap.append(np.full(len(segment), k, dtype=np.int64))
        speed.append(_speed(segment, params))
        if params.min_speed_m_s > 0:
            keep.append(speed[-1] > params.min_speed_m_s)
        else:
            keep.append(np.ones(len(segment), dtype=bool))
        kept += int(keep[-1].sum())
        k += 1
        if k >= 1000 and kept == 0:
            raise ValueError(
                f"no bin of {k} laps is faster than min_speed_m_s={params.min_speed_m_s}"
            )
    keep = np.concatenate(keep)
    stop = int(np.flatnonzero(keep)[n - 1]) + 1
    return (
        np.concatenate(position)[:stop],
        np.concatenate(direction)[:stop],
        np.concatenate(lap)[:stop],
        np.concatenate(speed)[:stop],
        keep[:stop],
    )


def trajectory(params: PlaceCellSimulation) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(position, direction, lap) of back-and-forth laps, one value per kept bin."""
    position, direction, lap, _, keep = _raw_trajectory(params)
    return position[keep], direction[keep], lap[keep]


def place_fields(params: PlaceCellSimulation) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(centres, widths, peak rates), each (neurons, 2 directions)."""
    gen = rng(params.seed, "fields")
    n = params.n_neurons
    centers = gen.uniform(0, params.track_length_m, (n, 2))
    widths = gen.uniform(*params.field_width_m, (n, 2))
    peak = params.peak_rate_hz * gen.lognormal(0.0, params.peak_rate_log_sd, n)
    preferred = gen.integers(0, 2, n)
    # The other direction keeps u^power of the peak, u ~ U(0, 1): mostly unidirectional cells.
    other = gen.uniform(0, 1, n) ** params.other_direction_power
    peaks = np.where(np.arange(2)[None, :] == preferred[:, None], 1.0, other[:, None])
    return centers, widths, peak[:, None] * peaks


def second_fields(
    params: PlaceCellSimulation, peaks: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(centres, widths, peaks) of second fields, (neurons, 2); peak 0 for single-field cells."""
    n = params.n_neurons
    if params.two_field_fraction <= 0:
        return np.zeros((n, 2)), np.ones((n, 2)), np.zeros((n, 2))
    gen = rng(params.seed, "second-fields")
    centers = gen.uniform(0, params.track_length_m, (n, 2))
    widths = gen.uniform(*params.field_width_m, (n, 2))
    has = gen.uniform(0, 1, n) < params.two_field_fraction
    scale = gen.uniform(0.3, 1.0, n)
    return centers, widths, np.where(has, scale, 0.0)[:, None] * peaks


def latent_processes(params: PlaceCellSimulation, n: int, k: int = 2) -> np.ndarray:
    """(n, k) unit-variance Ornstein-Uhlenbeck processes with time constant ``latent_tau_s``."""
    gen = rng(params.seed, "latents")
    a = np.exp(-1.0 / (params.latent_tau_s * params.rate_hz))
    noise = gen.normal(0, np.sqrt(1 - a**2), (n, k))
    z = np.empty((n, k))
    z[0] = gen.normal(0, 1, k)
    for t in range(1, n):
        z[t] = a * z[t - 1] + noise[t]
    return z


def _field(position, direction, centers, widths, peaks) -> np.ndarray:
    c = centers[:, direction].T  # (time, neurons): the field of the current direction
    w = widths[:, direction].T
    p = peaks[:, direction].T
    return p * np.exp(-0.5 * ((position[:, None] - c) / w) ** 2)


def simulate_session(params: PlaceCellSimulation | None = None) -> PlaceCellSession:
    """Simulate one session: trajectory, place-field rates and Poisson counts.

    Everything runs on the full clock (the latents evolve through the dropped
    pauses too); only the kept bins are returned.
    """
    params = params or PlaceCellSimulation()
    raw_position, raw_direction, raw_lap, raw_speed, keep = _raw_trajectory(params)
    position, direction, lap = raw_position[keep], raw_direction[keep], raw_lap[keep]
    # Cell classes from one uniform draw: non-spatial | silent | place cell.
    gen = rng(params.seed, "nonspatial")
    u = gen.uniform(0, 1, params.n_neurons)
    nonspatial = u < params.nonspatial_fraction
    place_cell = u >= params.nonspatial_fraction + params.silent_fraction
    silent = ~nonspatial & ~place_cell
    centers, widths, peaks = place_fields(params)
    peaks = np.where(place_cell[:, None], peaks, 0.0)
    centers2, widths2, peaks2 = second_fields(params, peaks)
    laps = raw_lap.max() + 1
    gen_gain = rng(params.seed, "lap-gain")
    if params.lap_gain_per_cell:
        sd = params.lap_gain_sd  # mean-one gains: the field keeps its average rate
        gain = gen_gain.lognormal(-(sd**2) / 2, sd, (laps, params.n_neurons))
    else:
        gain = gen_gain.lognormal(0.0, params.lap_gain_sd, laps)[:, None]
    field = _field(position, direction, centers, widths, peaks)
    if peaks2.any():
        field = field + _field(position, direction, centers2, widths2, peaks2)
    field = field * gain[lap]
    if params.baseline_log_sd > 0:
        baseline = params.baseline_rate_hz * rng(params.seed, "baseline").lognormal(
            0.0, params.baseline_log_sd, params.n_neurons
        )
    else:
        baseline = np.full(params.n_neurons, params.baseline_rate_hz)
    rates = baseline + field
    # Non-spatial cells: no field, log-rate driven by the slow latents.
    latents = latent_processes(params, len(raw_position))[keep]
    weights = gen.normal(0, 0.8, (2, params.n_neurons))
    # Each cell's mean rate is log-normal over cells around latent_rate_hz (its weights set how
    # far: the dense preset's span 2-19 Hz, median 3.3 Hz).
    drive = params.latent_rate_hz * np.exp(latents @ weights - 0.32)
    rates = np.where(nonspatial[None, :], drive, rates)
    counts = rng(params.seed, "spikes").poisson(rates / params.rate_hz)
    return PlaceCellSession(
        counts=counts.astype(np.int64),
        rates=rates.astype(np.float32),
        position=position,
        direction=direction,
        lap=lap,
        centers=centers,
        widths=widths,
        peaks=peaks,
        place_cell=place_cell,
        latents=latents,
        params=params,
        time=np.flatnonzero(keep) / params.rate_hz,
        speed=raw_speed[keep],
        silent=silent,
        baseline=baseline,
        centers2=centers2,
        widths2=widths2,
        peaks2=peaks2,
    )


def write_nwb(session: PlaceCellSession, path: str | Path) -> None:
    """Write the session as NWB (see the module docstring for the layout), atomically."""
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries
    from pynwb.behavior import BehavioralTimeSeries, Position, SpatialSeries
    from pynwb.file import Subject

    params = session.params
    start = datetime(2016, 1, 1, tzinfo=UTC)
    nwbfile = NWBFile(
        session_description=(
            "Simulated rat running back and forth on a 1.6 m linear track; CA1 place cells "
            "with direction-selective Gaussian fields, Poisson spike counts in "
            f"{1000 / params.rate_hz:g} ms bins (brainlatent)."
            + (
                f" Running bins only (speed > {params.min_speed_m_s:g} m/s), concatenated."
                if params.min_speed_m_s > 0
                else ""
            )
        ),
        identifier=str(uuid.UUID(int=derive_seed(params.seed, "place-cells") << 64)),
        session_start_time=start,
        file_create_date=start,
        institution="brainlatent (simulated)",
        subject=Subject(subject_id="sim-achilles", species="Rattus norvegicus"),
    )
    ecephys = nwbfile.create_processing_module("ecephys", "Binned spike counts of CA1 units.")
    ecephys.add(
        TimeSeries(
            name=NEURAL_SERIES,
            description="Spike counts per bin (time × units) of simulated CA1 place cells.",
            data=session.counts.astype(np.uint16),
            unit="spikes",
            rate=float(params.rate_hz),
            starting_time=0.0,
        )
    )
    # The same spikes as a units table, as spike-sorted files hold them (``neural: units``):
    # each count's spikes at uniform times inside its bin, from a stream of their own.
    bin_s = 1.0 / params.rate_hz
    draw = rng(params.seed, "place-cells", "spike-times")
    for unit, counts in enumerate(session.counts.T.astype(np.int64)):
        bins = np.repeat(np.arange(len(counts)), counts)
        times = np.sort((bins + draw.uniform(0.01, 0.99, len(bins))) * bin_s)
        nwbfile.add_unit(spike_times=times, id=unit)
    behavior = nwbfile.create_processing_module("behavior", "Position and running direction.")
    behavior.add(
        Position(
            spatial_series=SpatialSeries(
                name=POSITION_SERIES,
                description="Position of the rat along the track.",
                data=session.position,
                reference_frame=f"0 m: left end of the track; {params.track_length_m:g} m: right",
                rate=float(params.rate_hz),
                starting_time=0.0,
            )
        )
    )
    behavior.add(
        BehavioralTimeSeries(
            time_series=TimeSeries(
                name=DIRECTION_SERIES,
                description="Running direction: 0 right (position increasing), 1 left.",
                data=session.direction.astype(np.int8),
                unit="n.a.",
                rate=float(params.rate_hz),
                starting_time=0.0,
            )
        )
    )
    with atomic_path(path) as tmp, NWBHDF5IO(str(tmp), mode="w") as io:
        io.write(nwbfile)


def write_npz(session: PlaceCellSession, path: str | Path) -> None:
    """Write the session in the reader's ``.npz`` form (neural, behavior, names, discrete, rate)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(
            f,
            neural=session.counts.astype(np.float32),
            behavior=session.behavior,
            behavior_names=np.array(BEHAVIOR_NAMES),
            discrete=np.array(DISCRETE),
            rate=np.float64(session.params.rate_hz),
        )


def write_truth(session: PlaceCellSession, path: str | Path) -> None:
    """The ground truth (rates, trajectory, fields, parameters) as ``.npz``."""
    settings = {k: np.asarray(v) for k, v in asdict(session.params).items()}
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(
            f,
            rates=session.rates,
            position=session.position,
            direction=session.direction,
            lap=session.lap,
            centers=session.centers,
            widths=session.widths,
            peaks=session.peaks,
            place_cell=session.place_cell,
            latents=session.latents,
            time=session.time,
            speed=session.speed,
            silent=session.silent,
            baseline=session.baseline,
            centers2=session.centers2,
            widths2=session.widths2,
            peaks2=session.peaks2,
            **{f"param_{k}": v for k, v in settings.items()},
        )
