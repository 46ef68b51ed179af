"""The "dsgd" schedule (what a Dask cluster runs, bit for bit) with the adaptive and the
constant step: held-out RMSE and epochs.

    python benchmarks/dsgd_steps.py

One process, ``schedule="dsgd"``, default hyperparameters (K = 100, ``n_blocks`` 20)
but for ``learning_rate_schedule``, ``random_state=0``; for each data set the held-out
RMSE after 20 epochs and with ``n_epochs="auto"`` (validation, early stopping, refit), and
the epochs and seconds that took. The data: ML-100K's u1 split, and synthetic sets of
other sizes, sparsities, popularity skews and rating scales (80/20 holdout).
"""

from __future__ import annotations

import time
import warnings

import numpy as np
from _machine import describe

from latentrec import SGDMatrixFactorization, datasets
from latentrec.data import holdout, synthetic

SYNTHETIC = {
    "5k users x 2k items, 200k": dict(n_users=5000, n_items=2000, n_ratings=200_000),
    "20k x 5k, 100k (sparse)": dict(n_users=20000, n_items=5000, n_ratings=100_000),
    "3k x 1.5k, 120k, scale 0-10": dict(n_users=3000, n_items=1500, n_ratings=120_000,
                                        rating_scale=(0, 10)),
    "4k x 3k, 150k, skew 2, discrete": dict(n_users=4000, n_items=3000, n_ratings=150_000,
                                            popularity_skew=2.0, discrete=True),
}


def splits() -> dict:
    out = {"ML-100K u1": datasets.load("ml-100k").split("u1")}
    for name, kw in SYNTHETIC.items():
        out[name] = holdout(synthetic(random_state=0, **kw), 0.2, random_state=0)
    return out


def main() -> None:
    print(describe(), flush=True)
    warnings.simplefilter("ignore")  # a baseline warning on a sparse set says nothing here
    print("| data | n_epochs | constant: RMSE (epochs, s) | adaptive: RMSE (epochs, s) |")
    print("|---|---|---:|---:|")
    for name, (train, test) in splits().items():
        ids = (test.user_map.to_ids(test.users), test.item_map.to_ids(test.items))
        for n_epochs in (20, "auto"):
            cells = []
            for kind in ("constant", "adaptive"):
                start = time.perf_counter()
                m = SGDMatrixFactorization(schedule="dsgd", learning_rate_schedule=kind,
                                           n_epochs=n_epochs, random_state=0).fit(train)
                seconds = time.perf_counter() - start
                rmse = float(np.sqrt(np.mean((m.predict(*ids) - test.values) ** 2)))
                cells.append(f"{rmse:.4f} ({len(m.history_)}, {seconds:.1f})")
            print(f"| {name} | {n_epochs} | {cells[0]} | {cells[1]} |", flush=True)


if __name__ == "__main__":
    main()
