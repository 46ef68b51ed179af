"""The factorization machine's offsets for new users and items (models/fm_cold.py)."""

import copy
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from latentrec import BayesianFactorizationMachine, Ratings
from latentrec.data import synthetic
from latentrec.kernels import fm as kern
from latentrec.models import fm_design
from latentrec.models.fm_cold import ColdOffsets


def fm_predict(x, w0, w, V):
    """The textbook second-order FM of one dense row (V: features x K)."""
    xv = x @ V
    return w0 + x @ w + 0.5 * float(xv @ xv - (x * x) @ (V * V).sum(axis=1))


def random_design(seed, sets=(True, True), attrs=(True, True), with_time=False):
    """A small design of the user and item blocks (each with its set and attributes, or
    not), and a time block; one user and one item without ratings; a random state."""
    rng = np.random.default_rng(seed)
    n_u, n_i, n = int(rng.integers(2, 7)), int(rng.integers(2, 7)), int(rng.integers(3, 30))
    pairs = np.unique(np.column_stack([rng.integers(0, n_u, n), rng.integers(0, n_i, n)]),
                      axis=0)
    ratings = Ratings.from_dataframe(pd.DataFrame(
        {"user": pairs[:, 0], "item": pairs[:, 1], "rating": rng.normal(size=len(pairs)),
         "t": rng.integers(0, 100, len(pairs))}), timestamp="t")
    ratings = Ratings(ratings.users, ratings.items, ratings.values, ratings.timestamps,
                      user_map=ratings.user_map.extend(np.array([99], dtype=object)),
                      item_map=ratings.item_map.extend(np.array([99], dtype=object)))
    blocks = []
    for k, (side, m) in enumerate((("user", ratings.user_map), ("item", ratings.item_map))):
        A = (sp.csr_matrix(rng.normal(size=(len(m), int(rng.integers(1, 4))))
                           * (rng.random((len(m), 1)) < 0.8)) if attrs[k] else None)
        blocks.append(fm_design.side_block(ratings, side, sets[k], A))
    if with_time:
        edges = fm_design.time_edges(ratings.timestamps, 3)
        blocks.append(fm_design.time_block(ratings, edges, (0.0, 99.0)))
    d = fm_design.assemble(blocks)
    K, J, G = int(rng.integers(1, 4)), d.n_features, len(d.group_names)
    s = SimpleNamespace(VT=rng.normal(size=(K, J)), w=rng.normal(size=J), w0=rng.normal(),
                        mu_w=rng.normal(size=G), mu_v=rng.normal(size=(G, K)))
    if with_time:
        s.VT[:, d.group_slice("time")] = 0.0
    E = d.n_entities
    qE, s2E, s.lin = np.zeros((E, K)), np.zeros((E, K)), np.zeros(E)
    kern.entity_sums(d.ef_ptr, d.ef_idx, d.ef_val, np.ascontiguousarray(s.VT.T), s.w,
                     qE, s2E, s.lin)
    s.q, s.s2 = qE.T.copy(), s2E.T.copy()
    return d, s, ratings.values.astype(np.float64)


def reference_row(d, s, row, new):
    """The rating ``row`` predicted by the dense FM over its features, with the sides in
    ``new`` replaced by new entities: an id by a feature holding the id group's prior
    mean, and the entity's own feature in the other side's set by one holding that set
    group's; a new user's pairs at a new time bin."""
    X = d.entity_features()
    K, g = s.VT.shape[0], d.group_names.index
    x = np.zeros(d.n_features + 5)
    V = np.vstack([s.VT.T, np.zeros((5, K))])
    w = np.concatenate([s.w, np.zeros(5)])
    for k in range(len(d.block_names)):
        x[:d.n_features] += X[d.ent[k][row]].toarray()[0]
    for b, side in enumerate(("user", "item")):
        if side not in new:
            continue
        own = np.arange(d.bfeat[b], d.bfeat[b + 1])
        attr = f"{side}_attributes"
        keep = (np.isin(own, np.arange(*d.group_slice(attr).indices(d.n_features)))
                if attr in d.group_names else np.zeros(own.size, bool))
        x[own[~keep]] = 0.0
        x[d.n_features + b] = 1.0  # the new id
        V[d.n_features + b], w[d.n_features + b] = s.mu_v[g(side)], s.mu_w[g(side)]
        set_name = "flipped" if side == "user" else "implicit"
        if set_name in d.group_names and len(new) == 1:
            f = d.group_slice(set_name).start + d.ent[b][row] - d.bent[b]
            x[d.n_features + 2 + b], x[f] = x[f], 0.0
            V[d.n_features + 2 + b] = s.mu_v[g(set_name)]
            w[d.n_features + 2 + b] = s.mu_w[g(set_name)]
    if "user" in new and "time" in d.block_names:
        x[d.group_slice("time")] = 0.0
        x[-1], w[-1] = 1.0, s.mu_w[g("time")]
    return fm_predict(x, s.w0, w, V)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10**6), st.tuples(st.booleans(), st.booleans()),
       st.tuples(st.booleans(), st.booleans()), st.booleans())
def test_new_entity_predictions_match_the_dense_fm(seed, sets, attrs, with_time):
    d, s, y = random_design(seed, sets, attrs, with_time)
    cold = ColdOffsets(d, y)
    assert cold.sides == ["user", "item"]  # each side has an entity without ratings
    for new in (("user",), ("item",), ("user", "item")):
        got = (cold._predict(s, new[0]) if len(new) == 1 else cold._predict_both(s))
        want = [reference_row(d, s, r, new) for r in range(len(y))]
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)


def test_a_side_whose_entities_all_have_ratings_needs_no_offset():
    ratings = Ratings.from_dataframe(pd.DataFrame({"user": [0, 1], "item": [0, 1],
                                                   "rating": [1.0, 2.0]}))
    d = fm_design.assemble([fm_design.side_block(ratings, side, True, None)
                            for side in ("user", "item")])
    cold = ColdOffsets(d, np.array([1.0, 2.0]))
    assert cold.sides == [] and cold.offsets(1.0) == {}


def test_the_offset_is_the_mean_error_over_every_fifth_sample():
    d, s, y = random_design(3, with_time=True)
    cold = ColdOffsets(d, y)
    cold.add(s)  # measured
    for _ in range(4):  # not measured: they would move the mean by 100
        cold.add(SimpleNamespace(**{**vars(s), "w0": s.w0 - 100.0}))
    s.w0 += 1.0
    cold.add(s)  # measured
    mean_err = np.mean(y - cold._predict(s, "user")) + 0.5
    assert cold.n == 2
    assert cold.offsets(2.0)["user"] == pytest.approx(2.0 * mean_err)


def test_new_items_of_popular_taste_are_not_predicted_low():
    """Users rate what they like (missing not at random), so a new item's ratings, which
    come mostly from the popular items, are higher than the mean over items. The item
    attribute says nothing; the offset must lift what the prior mean alone predicts."""
    ratings = synthetic(400, 300, 12000, rank=3, noise=0.4, exposure=(1, 1),
                        random_state=0)
    rng = np.random.default_rng(0)
    kinds = pd.DataFrame({"kind": rng.choice(["a", "b"], 300)}, index=pd.RangeIndex(300))
    new = np.isin(ratings.items, rng.choice(300, 60, replace=False))
    train, test = ratings.subset(np.flatnonzero(~new)), ratings.subset(np.flatnonzero(new))
    model = BayesianFactorizationMachine(n_factors=4, n_samples=60, burn_in=20, n_threads=1,
                                         random_state=0, ranking_factors=0)
    model.fit(train, item_attributes=kinds)
    users, items = test.user_map.to_ids(test.users), test.item_map.to_ids(test.items)
    err = test.values - model.predict(users, items, clip=False)
    unshifted = err + model.cold_offset_[1]
    assert model.cold_offset_[1] > 0.2
    assert abs(err.mean()) < 0.5 * abs(unshifted.mean()), (err.mean(), unshifted.mean())


def test_an_items_offset_for_new_users_is_shrunk_by_how_many_rows_it_has():
    d, s, y = random_design(5)
    cold = ColdOffsets(d, y)
    cold.n, cold.n_items = 2, 3
    cold.item_of_row = np.array([0] * 40 + [1] * 4 + [2] * 40)
    err = np.concatenate([np.full(40, 1.0), np.full(4, 1.0), np.full(40, -1.0)])
    err += np.random.default_rng(0).normal(0, 0.5, err.size)
    cold.row_err = 2 * err  # two samples
    by = cold._by_item()
    raw = np.bincount(cold.item_of_row, err) / np.bincount(cold.item_of_row)
    gap, raw_gap = by - err.mean(), raw - err.mean()
    # each between its own mean and the overall mean, the item with 4 rows nearer the latter
    assert np.all((0 < gap / raw_gap) & (gap / raw_gap < 1))
    assert gap[1] / raw_gap[1] < gap[0] / raw_gap[0]
    # k = within / between variance: with the between part from the moments, by hand
    within = np.sum((err - raw[cold.item_of_row]) ** 2) / (84 - 3)
    between = np.average(raw_gap ** 2, weights=[40, 4, 40]) - within * 3 / 84
    np.testing.assert_allclose(gap, raw_gap * np.array([40, 4, 40]) / (
        np.array([40, 4, 40]) + within / between))
    # items that do not differ beyond noise: every one gets the overall mean
    cold.row_err = 2 * np.random.default_rng(1).normal(0.3, 0.5, 84)
    np.testing.assert_allclose(cold._by_item(), cold.row_err.mean() / 2)


def test_a_user_folded_in_from_attributes_is_a_new_user_of_the_model():
    rng = np.random.default_rng(1)
    ratings = synthetic(300, 120, 6000, rank=3, noise=0.4, exposure=(1, 1), random_state=1)
    users = pd.DataFrame({"group": rng.choice(["a", "b", "c"], 301)},
                         index=pd.RangeIndex(301))
    model = BayesianFactorizationMachine(n_factors=3, n_samples=20, burn_in=10, n_threads=1,
                                         random_state=0, ranking_factors=0)
    model.fit(ratings, user_attributes=users)  # user 300 has attributes and no ratings
    folded = model.fold_in(attributes={"group": users.loc[300, "group"]})
    new = model.user_map_.to_index(300)
    assert folded.factors[-1] == 1.0 and model.user_factors_[new, -1] == 1.0
    assert np.all(model.user_factors_[model.user_map_.to_indices(np.arange(300)), -1] == 0)
    items = list(range(120))
    np.testing.assert_allclose(model.predict(folded, items, clip=False),
                               model.predict([300] * 120, items, clip=False), atol=0.15)
    # a user with ratings does not get the new-user column: its predictions are those of
    # its bias and factors without it
    rated = model.fold_in({0: 4.0, 1: 2.0})
    q = rated.factors.astype(np.float64)
    want = (model.global_mean_ + model.item_bias_[:120] + rated.bias
            + model.item_factors_[:120, :-1].astype(np.float64) @ q[:-1])
    np.testing.assert_allclose(model.predict(rated, items, clip=False), want, rtol=1e-5)


def test_a_model_file_from_before_the_offsets_loads_without_them():
    ratings = synthetic(200, 100, 6000, rank=3, noise=0.4, random_state=2)
    users = pd.DataFrame({"group": np.arange(201) % 3}, index=pd.RangeIndex(201))
    model = BayesianFactorizationMachine(n_factors=3, n_samples=10, burn_in=5, n_threads=1,
                                         random_state=0, ranking_factors=0)
    model.fit(ratings, user_attributes=users)  # user 200: attributes, no ratings
    arrays = {k: v for k, v in model._extra_arrays().items() if k != "cold_offset"}
    old = copy.deepcopy(model)
    old.user_factors_, old.item_factors_ = model.user_factors_[:, :-1], model.item_factors_[:, :-1]
    old._load_extra_arrays(arrays)
    assert old.user_factors_.shape == model.user_factors_.shape
    np.testing.assert_array_equal(old.cold_offset_, np.zeros(3))
    items = list(range(100))
    np.testing.assert_allclose(old.predict([0] * 100, items, clip=False),
                               model.predict([0] * 100, items, clip=False))
    np.testing.assert_allclose(model.predict([200] * 100, items, clip=False)
                               - old.predict([200] * 100, items, clip=False),
                               model.item_factors_[:, -1], rtol=1e-5, atol=1e-6)
    arrays["cold_offset"] = np.array([0.1, np.nan, 0.0])
    with pytest.raises(ValueError, match="offsets for new users and items"):
        copy.deepcopy(model)._load_extra_arrays(arrays)


def test_the_new_user_column_is_not_part_of_similarity():
    ratings = synthetic(200, 100, 6000, rank=3, noise=0.4, random_state=3)
    users = pd.DataFrame({"group": np.arange(203) % 3}, index=pd.RangeIndex(203))
    model = BayesianFactorizationMachine(n_factors=3, n_samples=10, burn_in=5, n_threads=1,
                                         random_state=0).fit(ratings, user_attributes=users)
    before = model.similar_users(200, n=5)[0].tolist()
    model.user_factors_[:, -1] = np.random.default_rng(0).normal(size=203)
    model._normed = {}
    assert model.similar_users(200, n=5)[0].tolist() == before


def test_a_folded_in_user_is_predicted_at_a_new_time_bin():
    base = synthetic(200, 100, 6000, rank=3, noise=0.3, random_state=2)
    when = np.random.default_rng(0).permutation(base.n_ratings)
    df = pd.DataFrame({"user": base.users, "item": base.items, "rating": base.values,
                       "t": 10**9 + 60 * when})
    model = BayesianFactorizationMachine(n_factors=3, n_samples=10, burn_in=5, n_threads=1,
                                         random_state=0).fit(
        Ratings.from_dataframe(df, timestamp="t"))
    assert model.uses_timestamps
    folded = model.fold_in({0: 4.0, 3: 2.0})
    ts = np.full(10, 10**9 + 60 * 100)
    np.testing.assert_allclose(model.predict(folded, list(range(10)), timestamps=ts),
                               model.predict(folded, list(range(10))))
    assert not np.allclose(model.predict([1] * 10, list(range(10)), timestamps=ts),
                           model.predict([1] * 10, list(range(10))))
