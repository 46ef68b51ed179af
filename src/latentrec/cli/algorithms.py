"""The ``--algo`` names and how the shared model options reach each model.

To add an algorithm to the command line, add one line to ``ALGORITHMS`` (its name and the
class ``latentrec`` exports); the options below reach it wherever its ``__init__`` takes
a parameter of the listed names.
"""

from __future__ import annotations

import inspect

import typer

#: --algo name -> class exported by ``latentrec``; the first is the default.
ALGORITHMS = {
    "sgd": "SGDMatrixFactorization",
    "als": "ALSMatrixFactorization",
    "implicit-als": "ImplicitALS",
    "bpr": "BPR",
    "bpmf": "BayesianMatrixFactorization",
    "bfm": "BayesianFactorizationMachine",
    "bias": "BiasBaseline",
    "mean": "GlobalMean",
    "popularity": "Popularity",
    "random": "RandomRecommender",
}

#: Baselines that ``evaluate --baselines`` adds: for rating metrics, for ranking metrics.
RATING_BASELINES = ("mean", "bias")
RANKING_BASELINES = ("popularity", "random")

#: command-line option -> the hyperparameter names it sets (the first one a model takes).
OPTION_PARAMS = {
    "--factors": ("n_factors",),
    "--epochs": ("n_epochs", "n_iterations"),
    "--lr": ("learning_rate",),
    "--reg": ("regularization",),
    "--threads": ("n_threads",),
    "--seed": ("random_state",),
}


def algorithm_class(name: str) -> type:
    import latentrec

    return getattr(latentrec, ALGORITHMS[name])


def parse_algos(values, option: str = "--algo") -> list[str]:
    """``["sgd,bias", "mean"]`` -> ``["sgd", "bias", "mean"]``, checked and de-duplicated."""
    names = []
    for value in values or ():
        for name in value.split(","):
            name = name.strip().lower()
            if not name:
                continue
            if name not in ALGORITHMS:
                raise typer.BadParameter(f"unknown algorithm {name!r}; choose from "
                                         f"{', '.join(ALGORITHMS)}", param_hint=f"'{option}'")
            if name not in names:
                names.append(name)
    return names


def build_model(name: str, options: dict):
    """A fresh model of algorithm ``name`` with the options it takes.

    ``options`` maps command-line options (``"--factors"``) to values; None means "not
    given" (the model's own default stays). The values are checked by the model at once.
    """
    cls = algorithm_class(name)
    accepted = set(cls().get_params())
    params = {}
    for option, value in options.items():
        if value is None:
            continue
        for param in OPTION_PARAMS[option]:
            if param in accepted:
                params[param] = value
                break
    model = cls(**params)
    check_model(model, options)
    return model


def check_model(model, options: dict) -> None:
    """The model's own parameter checks, run now, before any data is read.

    A refused value is reported against the option that set it, in the model's words
    ("Invalid value for '--lr': learning_rate must be a number in (0, inf), got inf").
    """
    from ..errors import ParameterError

    try:
        model._check_params()
    except ParameterError as err:
        param = str(err).split(" ", 1)[0]
        option = next((opt for opt in options if param in OPTION_PARAMS[opt]), None)
        if option is None:
            raise
        raise typer.BadParameter(str(err), param_hint=f"'{option}'") from None


def option_defaults(option: str) -> str:
    """"sgd 0.01, bpr 0.01": the default of what ``option`` sets, for each algorithm that
    takes it, read from the classes' signatures (so the help cannot drift from them)."""
    parts = []
    for name in ALGORITHMS:
        params = inspect.signature(algorithm_class(name)).parameters
        param = next((p for p in OPTION_PARAMS[option] if p in params), None)
        if param is not None:
            parts.append(f"{name} {params[param].default}")
    return ", ".join(parts)


def unused_options(names, options: dict) -> list[str]:
    """Options given a value that none of the algorithms ``names`` takes (to warn about)."""
    accepted = set()
    for name in names:
        accepted |= set(algorithm_class(name)().get_params())
    return [opt for opt, value in options.items()
            if value is not None and opt != "--seed"
            and not any(p in accepted for p in OPTION_PARAMS[opt])]


def describe(name: str) -> str:
    """One line for a model: the class's first docstring line."""
    doc = (algorithm_class(name).__doc__ or "").strip().splitlines()
    return doc[0] if doc else ""
