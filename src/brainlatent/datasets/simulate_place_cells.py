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

The NWB file follows common ecephys/behaviour conventions: the counts are a
TimeSeries in ``processing/ecephys``, position a SpatialSeries inside
``processing/behavior/Position`` and direction a TimeSeries inside
``processing/behavior/BehavioralTimeSeries``, all on one 40 Hz clock.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
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


@dataclass(frozen=True)
class PlaceCellSimulation:
    """Parameters of the simulated session (defaults: the scale of rat achilles)."""

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

    def __post_init__(self):
        if self.n_neurons < 1:
            raise ValueError(f"n_neurons must be at least 1; got {self.n_neurons}")
        if self.duration_s * self.rate_hz < 2:
            raise ValueError("duration_s × rate_hz must give at least 2 samples")
        if not 0 <= self.nonspatial_fraction <= 1:
            raise ValueError(
                f"nonspatial_fraction must be in [0, 1]; got {self.nonspatial_fraction}"
            )


@dataclass(frozen=True)
class PlaceCellSession:
    """Simulated data and its ground truth (arrays on the ``rate_hz`` clock)."""

    counts: np.ndarray  # (time, neurons) int
    rates: np.ndarray  # (time, neurons) expected spikes/s
    position: np.ndarray  # (time,) m
    direction: np.ndarray  # (time,) 0 right, 1 left
    lap: np.ndarray  # (time,) lap index
    centers: np.ndarray  # (neurons, 2) field centre per direction (m)
    widths: np.ndarray  # (neurons, 2) field s.d. per direction (m)
    peaks: np.ndarray  # (neurons, 2) peak rate per direction (Hz); 0 for non-spatial cells
    place_cell: np.ndarray  # (neurons,) bool
    latents: np.ndarray  # (time, 2) the non-spatial latent processes
    params: PlaceCellSimulation

    @property
    def behavior(self) -> np.ndarray:
        """(time, 2): position (m) and direction code, the recording's behaviour columns."""
        return np.column_stack([self.position, self.direction.astype(np.float64)])


def trajectory(params: PlaceCellSimulation) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(position, direction, lap) of back-and-forth laps, one value per bin."""
    gen = rng(params.seed, "trajectory")
    dt = 1.0 / params.rate_hz
    n = int(round(params.duration_s * params.rate_hz))
    length = params.track_length_m
    position, direction, lap = [], [], []
    total, k = 0, 0
    while total < n:
        going = RIGHT if k % 2 == 0 else LEFT
        # Half-cosine profile: peak speed v needs duration π·L / (2·v).
        speed = gen.uniform(*params.peak_speed_m_s)
        run = max(2, int(round(np.pi * length / (2 * speed) / dt)))
        s = (1 - np.cos(np.pi * np.arange(1, run + 1) / run)) / 2
        x = length * (s if going == RIGHT else 1 - s)
        pause = int(round(gen.uniform(*params.pause_s) / dt))
        end = x[-1]
        jitter = np.clip(end + np.cumsum(gen.normal(0, 0.002, pause)), 0, length)
        segment = np.concatenate([x, jitter])
        position.append(segment)
        direction.append(np.full(len(segment), going, dtype=np.int64))
        lap.append(np.full(len(segment), k, dtype=np.int64))
        total += len(segment)
        k += 1
    return (
        np.concatenate(position)[:n],
        np.concatenate(direction)[:n],
        np.concatenate(lap)[:n],
    )


def place_fields(params: PlaceCellSimulation) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(centres, widths, peak rates), each (neurons, 2 directions)."""
    gen = rng(params.seed, "fields")
    n = params.n_neurons
    centers = gen.uniform(0, params.track_length_m, (n, 2))
    widths = gen.uniform(*params.field_width_m, (n, 2))
    peak = params.peak_rate_hz * gen.lognormal(0.0, 0.5, n)
    preferred = gen.integers(0, 2, n)
    # The other direction keeps u² of the peak, u ~ U(0, 1): mostly unidirectional cells.
    other = gen.uniform(0, 1, n) ** 2
    peaks = np.where(np.arange(2)[None, :] == preferred[:, None], 1.0, other[:, None])
    return centers, widths, peak[:, None] * peaks


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


def simulate_session(params: PlaceCellSimulation | None = None) -> PlaceCellSession:
    """Simulate one session: trajectory, place-field rates and Poisson counts."""
    params = params or PlaceCellSimulation()
    position, direction, lap = trajectory(params)
    centers, widths, peaks = place_fields(params)
    c = centers[:, direction].T  # (time, neurons): the field of the current direction
    w = widths[:, direction].T
    p = peaks[:, direction].T
    gain = rng(params.seed, "lap-gain").lognormal(0.0, params.lap_gain_sd, lap.max() + 1)
    field = p * np.exp(-0.5 * ((position[:, None] - c) / w) ** 2) * gain[lap][:, None]
    rates = params.baseline_rate_hz + field
    # Non-spatial cells: no field, log-rate driven by the slow latents.
    gen = rng(params.seed, "nonspatial")
    place_cell = gen.uniform(0, 1, params.n_neurons) >= params.nonspatial_fraction
    latents = latent_processes(params, len(position))
    weights = gen.normal(0, 0.8, (2, params.n_neurons))
    drive = params.latent_rate_hz * np.exp(latents @ weights - 0.32)  # mean rate ≈ latent_rate_hz
    rates = np.where(place_cell[None, :], rates, drive)
    peaks = np.where(place_cell[:, None], peaks, 0.0)
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
            **{f"param_{k}": v for k, v in settings.items()},
        )
