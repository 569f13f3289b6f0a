"""Retrieval of one subject's test images by the ridge baseline and the brain module.

Among the test images (candidates ``small``) and, given extra candidates, among the test
images plus images the participant never saw (``large``).
"""

import argparse
from pathlib import Path

import joblib
import pandas as pd

from brainlatent.errors import DataError
from brainlatent.evaluation import retrieval_rows, split_trials, tidy
from brainlatent.io import load_npy, read_table, write_table
from brainlatent.models.brain_module import BrainModuleDecoder


class _SubjectDecoder:
    """Binds a multi-subject brain module to one subject, for :func:`retrieval_rows`."""

    def __init__(self, decoder, subject_index):
        self.decoder, self.subject_index = decoder, subject_index

    def predict(self, X):
        return self.decoder.predict(X, subjects=[self.subject_index] * len(X))

    def transform_targets(self, Y):
        return self.decoder.transform_targets(Y)


def subject_index(decoder: BrainModuleDecoder, subject: str, path) -> int:
    """The index of ``subject`` in the module's subject layer, looked up by name.

    By name, not by position in the config's subject list: the module keeps its own
    order (the workflow fits on sorted subjects), so a position could pick another
    subject's layer.
    """
    names = list(decoder.subject_names_)
    if subject not in names:
        raise DataError(
            path, f"subject {subject!r} is not in this brain module; it was trained on {names}"
        )
    return names.index(subject)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subject", required=True, help="name, as given to fit_brain_module")
    parser.add_argument("--epochs", type=Path, required=True)
    parser.add_argument("--trials", type=Path, required=True)
    parser.add_argument("--image-models", nargs="+", required=True)
    parser.add_argument("--features", nargs="+", type=Path, required=True)
    parser.add_argument("--index", nargs="+", type=Path, required=True)
    parser.add_argument("--ridge", nargs="+", type=Path, required=True)
    parser.add_argument("--brain-module", nargs="+", type=Path, required=True)
    parser.add_argument(
        "--extra-features",
        nargs="*",
        type=Path,
        default=[],
        help="embeddings of the extra candidates, one file per model (none: small set only)",
    )
    parser.add_argument("--extra-index", nargs="*", type=Path, default=[])
    parser.add_argument("--top-k", nargs="+", type=int, default=[1, 5])
    parser.add_argument("--metrics", type=Path, required=True)
    args = parser.parse_args(argv)
    n = len(args.image_models)
    if not all(len(x) == n for x in (args.features, args.index, args.ridge, args.brain_module)):
        parser.error("--features, --index, --ridge and --brain-module need one file per model")
    if len(args.extra_features) != len(args.extra_index) or len(args.extra_features) not in (0, n):
        parser.error("--extra-features and --extra-index need one file per model, or none")
    extras = list(zip(args.extra_features, args.extra_index, strict=True)) or [None] * n

    trials = read_table(args.trials)
    _, test = split_trials(trials, args.trials)
    X = load_npy(args.epochs)[test]
    images = trials["image"][test].to_numpy()
    shown = trials["image"].to_numpy()  # extra candidates: never shown, in training either
    tables = []
    for model, features, index, ridge, brain, extra_files in zip(
        args.image_models,
        args.features,
        args.index,
        args.ridge,
        args.brain_module,
        extras,
        strict=True,
    ):
        source = features
        features, index = load_npy(features), read_table(index)
        extra = extra_files and (load_npy(extra_files[0]), read_table(extra_files[1]))
        module = BrainModuleDecoder.load(brain)
        decoders = {  # name: (decoder, device it was trained on)
            "ridge": (joblib.load(ridge), "cpu"),
            "brain_module": (
                _SubjectDecoder(module, subject_index(module, args.subject, brain)),
                module.fit_device_,
            ),
        }
        for name, (decoder, device) in decoders.items():
            rows = retrieval_rows(
                decoder,
                X,
                images,
                features,
                index,
                args.top_k,
                extra=extra,
                seen=shown,
                extra_source=extra_files[1] if extra_files else None,
                source=source,
            )
            tables.append(
                tidy(
                    rows,
                    dataset="things_meg",
                    subject=args.subject,
                    decoder=name,
                    image_model=model,
                    window_start=float("nan"),
                    window_stop=float("nan"),
                    device=device,
                )
            )
    metrics = pd.concat(tables, ignore_index=True)
    print(metrics.to_string())
    write_table(args.metrics, metrics)


if __name__ == "__main__":
    main()
