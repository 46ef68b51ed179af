"""Asking a saved model: ``recommend``, ``similar``, ``predict``, ``fill``."""

from __future__ import annotations

import math
import warnings
from typing import Annotated

import typer

from . import options as O
from .inputs import (
    CliError,
    as_written,
    bad_value,
    check_distinct,
    check_output,
    known_id,
    load_model,
    read_id_list,
    read_pairs,
)
from .output import format_matrix, make_table, write_table, write_tables

_TABLE_SUFFIXES = (".csv", ".tsv", ".parquet")

Clip = Annotated[bool | None, typer.Option(
    "--clip/--no-clip", help="Bound predictions to the training rating range (default: "
    "when the model predicts ratings; --no-clip gives the raw values).", show_default=False)]


def recommend(
    model_path: O.ModelPath,
    user: Annotated[str | None, typer.Option(
        "--user", metavar="ID", help="The user to recommend for.", show_default=False)] = None,
    n: O.Count = 10,
    items: O.Items = None,
    users_file: Annotated[str | None, typer.Option(
        "--users-file", metavar="FILE", help="Recommend for many users: a file with one "
        "user id per line.", show_default=False)] = None,
    all_users: Annotated[bool, typer.Option(
        "--all", help="Recommend for every user the model was trained on, into --output "
        "(written as the lists come, with progress).")] = False,
    output_path: Annotated[str | None, typer.Option(
        "--output", "-o", metavar="FILE", help="Write the lists to a .csv, .tsv or .parquet "
        "file (columns user, rank, item, score[, title]).", show_default=False)] = None,
    include_seen: Annotated[bool, typer.Option(
        "--include-seen", help="Also recommend items the user rated in training.")] = False,
    by: Annotated[str | None, typer.Option(
        "--by", metavar="relevance|rating", help="Order: 'relevance' weighs what users pick "
        "with the predicted rating (the rating models' default), 'rating' the predicted "
        "rating alone (default: the model's own).", show_default=False)] = None,
    json_out: O.Json = False, quiet: O.Quiet = False, debug: O.Debug = False,
):
    """The best items for a user (or for every user in a file)."""
    out = O.output(json_out, quiet)
    if (user is not None) + (users_file is not None) + all_users != 1:
        raise CliError("give one of --user ID, --users-file FILE or --all")
    if all_users and (output_path is None or json_out):
        raise CliError("--all writes its lists to a file: give --output FILE (.csv, .tsv or "
                       ".parquet), and not --json")
    if by is not None and by not in ("relevance", "rating"):
        raise typer.BadParameter(f"must be 'relevance' or 'rating', got {by!r}",
                                 param_hint="'--by'")
    target = check_output(output_path, "--output", _TABLE_SUFFIXES)
    check_distinct({"--output": output_path},
                   {"MODEL": model_path, "--users-file": users_file, "--items": items})
    model = load_model(model_path)
    titles = _titles(items, model)
    if all_users:
        _recommend_all(model, n, not include_seen, by, titles, target, out)
        return
    users = ([known_id(model.user_map_, user)] if user is not None
             else read_id_list(users_file, model.user_map_))
    lists = model.recommend(users, n=n, exclude_seen=not include_seen, by=by)
    records = {u: _rows(ids, scores, "item", titles) for u, (ids, scores) in zip(users, lists)}

    if target is not None:
        write_table(_long_table(records, titles is not None), target)
        out.info(f"Wrote {sum(len(r) for r in records.values()):,} recommendations for "
                 f"{len(records):,} user(s) to {target}")
    if json_out:
        out.emit_json(records[users[0]] if user is not None else records)
    elif target is None or user is not None:
        for u, rows in records.items():
            _print_rows(out, rows, "item", f"Top {n} for user {u}")
            if len(records) > 1:
                out.line()


def _recommend_all(model, n, exclude_seen, by, titles, target, out) -> None:
    """``recommend --all``: every user's list, chunk by chunk, into ``target``."""
    n_users = len(model.user_map_)
    written = [0]
    with out.progress(f"recommending for {n_users:,} users") as advance:
        def chunks():
            written[0] = 0
            for table in model.recommend_all(n=n, exclude_seen=exclude_seen, by=by):
                if titles is not None:  # strings in every chunk, a title missing or not
                    table["title"] = table["item"].map(titles).astype("string")
                written[0] += len(table)
                advance(text=f"{written[0]:,} rows")
                yield table

        write_tables(chunks, target)
    out.info(f"Wrote {written[0]:,} recommendations for {n_users:,} user(s) to {target}")


def similar(
    model_path: O.ModelPath,
    item: Annotated[str | None, typer.Option(
        "--item", metavar="ID", help="Items most like this item.", show_default=False)] = None,
    user: Annotated[str | None, typer.Option(
        "--user", metavar="ID", help="Users most like this user.", show_default=False)] = None,
    n: O.Count = 10,
    items: O.Items = None,
    json_out: O.Json = False, quiet: O.Quiet = False, debug: O.Debug = False,
):
    """Items (or users) most like one, by the cosine of their latent factors."""
    out = O.output(json_out, quiet)
    if (item is None) == (user is None):
        raise CliError("give one of --item ID or --user ID")
    model = load_model(model_path)
    titles = _titles(items, model)
    if item is not None:
        query = known_id(model.item_map_, item)
        ids, scores = model.similar_items(query, n=n)
        rows, side = _rows(ids, scores, "item", titles), "item"
        label = titles.get(query, query) if titles else query
        title = f"Items most like {label}" + (f" (item {query})" if label != query else "")
    else:
        query = known_id(model.user_map_, user)
        ids, scores = model.similar_users(query, n=n)
        rows, side, title = _rows(ids, scores, "user", None), "user", f"Users most like {query}"
    out.emit_json(rows)
    _print_rows(out, rows, side, title, score="similarity")


def predict(
    ctx: typer.Context,
    model_path: O.ModelPath,
    pair: Annotated[list[str] | None, typer.Option(
        "--pair", metavar="USER ITEM", help="A (user, item) pair; repeat for more.",
        show_default=False)] = None,
    pairs: Annotated[str | None, typer.Option(
        "--pairs", metavar="FILE", help="A CSV/TSV of user,item pairs (a header naming user "
        "and item columns is optional).", show_default=False)] = None,
    output_path: Annotated[str | None, typer.Option(
        "--output", "-o", metavar="FILE", help="Write user,item,prediction as .csv, .tsv or "
        ".parquet; '-' prints CSV.", show_default=False)] = None,
    unknown: Annotated[str, typer.Option(
        "--unknown", help="An id the model has not seen: error, bias (estimate from what is "
        "known) or nan.")] = "error",
    at: Annotated[float | None, typer.Option(
        "--at", metavar="SECONDS", help="Predict the --pair pairs at this time (seconds, as "
        "the training ratings' timestamps), for a model with a time group; a --pairs file "
        "gives each pair's time in a timestamp column.", show_default=False)] = None,
    clip: Clip = None,
    json_out: O.Json = False, quiet: O.Quiet = False, debug: O.Debug = False,
):
    """Predicted ratings for (user, item) pairs (each at its time, for a model with a time
    group, when times are given)."""
    import numpy as np
    import pandas as pd

    from ..models.base import UnknownIdWarning

    out = O.output(json_out, quiet)
    given = ctx.meta.get("latentrec.pairs", [])
    if not given and pairs is None:
        raise CliError("give --pair USER ITEM (repeatable) or --pairs FILE")
    if unknown not in ("error", "bias", "nan"):
        raise typer.BadParameter(f"{unknown!r} is not error, bias or nan",
                                 param_hint="'--unknown'")
    target = None if output_path in (None, "-") else check_output(
        output_path, "--output", _TABLE_SUFFIXES)
    check_distinct({"--output": output_path}, {"MODEL": model_path, "--pairs": pairs})
    if at is not None and not math.isfinite(at):
        raise typer.BadParameter(f"{at!r} is not a number of seconds", param_hint="'--at'")
    model = load_model(model_path)
    users, items_, timestamps, where = _pairs_and_times(given, pairs, at)
    if timestamps is not None and not model.uses_timestamps:
        out.note(f"note: {type(model).__name__} has no time group here; the times do "
                 "not change its predictions")
    users = [model.user_map_.coerce(as_written(model.user_map_, u)) for u in users]
    items_ = [model.item_map_.coerce(as_written(model.item_map_, i)) for i in items_]
    _check_clip(model, clip)
    if unknown == "error":
        _check_known(model, users, items_, where)
    with warnings.catch_warnings():  # the library's all-unknown warning: ours says more
        warnings.simplefilter("ignore", UnknownIdWarning)
        values, missing = model.predict(np.array(users, dtype=object),
                                        np.array(items_, dtype=object), unknown=unknown,
                                        clip=clip, return_unknown=True,
                                        timestamps=timestamps)
    if missing.any():
        out.warning(_fallback_note(missing, users, items_, unknown))
    df = pd.DataFrame({"user": users, "item": items_, "prediction": values})
    if target is not None:
        write_table(df, target)
        out.info(f"Wrote {len(df):,} predictions to {target}")
    if json_out:
        out.emit_json(df.to_dict("records"))
    elif output_path == "-":
        out.raw(df.to_csv(index=False).rstrip("\n"))
    elif target is None:
        out.table(make_table(["user", "item", "prediction"],
                             [[u, i, p] for u, i, p in zip(users, items_, values)],
                             numeric={"prediction"}))


def _pairs_and_times(given: list, pairs: str | None, at: float | None):
    """(users, items, timestamps or None, where) of the --pair pairs (at --at) and the
    --pairs file's (at its timestamp column, or --at); ``where`` names each pair's
    origin for an error: ``(None, "--pair U I")`` or ``(file, line)``."""
    import numpy as np

    users, items = [u for u, _ in given], [i for _, i in given]
    times = [at] * len(given)
    where = [(None, f"--pair {u} {i}") for u, i in given]
    if pairs is not None:
        file_users, file_items, file_times, lines = read_pairs(pairs)
        users += file_users
        items += file_items
        times += file_times if file_times is not None else [at] * len(file_users)
        where += [(pairs, line) for line in lines]
    if any(t is None for t in times) and any(t is not None for t in times):
        raise CliError("some pairs have a time and some do not: give --at SECONDS for the "
                       "--pair pairs, or a timestamp column for every pair of the file")
    return (users, items, (None if times[0] is None else np.array(times, np.float64)),
            where)


def _check_known(model, users: list, items: list, where: list) -> None:
    """With --unknown error: the first pair with an id the model has not seen, named by
    where it was given (the library's error names the id alone)."""
    import numpy as np

    from ..errors import DataError

    unseen = [id_map.to_indices(np.array(ids, dtype=object), unknown="missing") < 0
              for ids, id_map in ((users, model.user_map_), (items, model.item_map_))]
    if not (unseen[0] | unseen[1]).any():
        return
    k = int((unseen[0] | unseen[1]).argmax())
    side, raw = ("user", users[k]) if unseen[0][k] else ("item", items[k])
    reason = (f"the model has not seen {side} {raw!r}; give --unknown bias or --unknown nan "
              "to predict such pairs anyway")
    path, line = where[k]
    if path is None:
        raise CliError(f"{line}: {reason}")
    raise DataError(reason, path=path, line=line)


def fill(
    model_path: O.ModelPath,
    max_cells: Annotated[int, typer.Option(
        "--max-cells", min=1, help="Refuse matrices with more cells than this.")] = 10_000,
    decimals: Annotated[int, typer.Option("--decimals", min=0, max=10,
                                          help="Decimals printed.")] = 2,
    clip: Clip = None,
    output_path: Annotated[str | None, typer.Option(
        "--output", "-o", metavar="FILE", help="Also write the matrix (users as rows) to a "
        ".csv or .tsv file.", show_default=False)] = None,
    json_out: O.Json = False, quiet: O.Quiet = False, debug: O.Debug = False,
):
    """The whole filled-in rating matrix (users x items), for small problems."""
    out = O.output(json_out, quiet)
    target = check_output(output_path, "--output", (".csv", ".tsv"))
    check_distinct({"--output": output_path}, {"MODEL": model_path})
    model = load_model(model_path)
    n_users, n_items = len(model.user_map_), len(model.item_map_)
    if n_users * n_items > max_cells:
        raise CliError(
            f"{model_path}: the matrix has {n_users:,} users x {n_items:,} items = "
            f"{n_users * n_items:,} cells, more than --max-cells {max_cells:,}; use "
            "'latentrec recommend' for a user's best items or 'latentrec predict' for "
            "chosen pairs")
    _check_clip(model, clip)
    matrix = model.predict_matrix(max_cells=max_cells, clip=clip)
    users, item_ids = model.user_map_.ids.tolist(), model.item_map_.ids.tolist()
    if target is not None:
        import pandas as pd

        write_table(pd.DataFrame(matrix, index=pd.Index(users, name="user"),
                                 columns=item_ids).reset_index(), target)
    out.emit_json({"users": users, "items": item_ids, "ratings": matrix.round(6).tolist()})
    out.raw(format_matrix(matrix, users, item_ids, decimals))


# shared ------------------------------------------------------------------------------------
def _check_clip(model, clip: bool | None) -> None:
    if clip and not model.predicts_ratings:
        raise bad_value("--clip", f"{type(model).__name__}'s predictions are not ratings, so "
                        "there is no rating scale to bound them to")


def _fallback_note(missing, users: list, items: list, unknown: str) -> str:
    """The warning for pairs with an id the model has not seen: how many, the first, and
    what their predictions are."""
    k = int(missing.argmax())
    what = ("the estimate from what is known (the unseen side as the model's average "
            "user or item)"
            if unknown == "bias" else "NaN")
    n, total = int(missing.sum()), missing.size
    return (f"{n:,} of {total:,} pairs {'has' if n == 1 else 'have'} an id the model has "
            f"not seen (the first: user {users[k]!r}, item {items[k]!r}); "
            f"{'its prediction is' if n == 1 else 'their predictions are'} {what}")


def _titles(items: str | None, model) -> dict | None:
    """``--items``: {item id as the model spells it: title}, or None when not given."""
    from ..data.datasets import item_titles

    return None if items is None else item_titles(items, model.item_map_)


def _rows(ids, scores, side: str, titles: dict | None) -> list[dict]:
    rows = []
    for raw, score in zip(ids.tolist(), scores.tolist()):
        row = {side: raw, "score": float(score)}
        if titles is not None:
            row["title"] = titles.get(raw)
        rows.append(row)
    return rows


def _print_rows(out, rows, side, title, score="score"):
    has_title = any("title" in r for r in rows)
    columns = ["rank", side] + (["title"] if has_title else []) + [score]
    cells = [[k, r[side]] + ([r.get("title") or ""] if has_title else []) + [r["score"]]
             for k, r in enumerate(rows, start=1)]
    out.table(make_table(columns, cells, numeric={"rank", score}, title=title))


def _long_table(records: dict, with_titles: bool):
    import pandas as pd

    flat = [{"user": u, "rank": k, **row} for u, rows in records.items()
            for k, row in enumerate(rows, start=1)]
    columns = ["user", "rank", "item", "score"] + (["title"] if with_titles else [])
    return pd.DataFrame(flat, columns=columns)
