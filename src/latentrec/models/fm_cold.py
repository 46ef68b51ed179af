"""How far off the factorization machine's prediction for a new user (or item) is, on
average: the offset a user or item known only from its attributes gets.

Such an entity has the prior mean of its id's factors and bias plus its attributes' parts,
and empty sets. The prior mean is a plain mean over entities, while the ratings to
predict come mostly from the active ones (a new item is rated in proportion to its
popularity), and much of an entity's level lies in the sets it fills, which a new one
has not. So each sample predicts a subsample of the training ratings with the user (or
the item) made new: its own block replaced by the prior mean and its attributes, and
its own feature in the other side's set (the item's flipped users, the user's implicit
items) by the set group's prior mean, so that nothing it rated speaks for it. The mean
error of those predictions, over the samples, is the side's offset.

A new user's predictions are at a new time bin (the group's prior mean), as the bins'
biases are mostly other users' sessions; so are these.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

#: ratings predicted per sample (a mean of this many errors is within ~0.002 sd)
_ROWS = 1 << 18
#: samples between two that are measured (an offset is a mean: a fifth of 550 samples
#: is plenty, and on MovieLens-100K each measured sample costs about 15 ms)
_EVERY = 5
_CHUNK = 1 << 16

#: side -> (its block, the other block, its attribute group, the other side's set group)
_SIDES = {"user": (0, 1, "user_attributes", "flipped"),
          "item": (1, 0, "item_attributes", "implicit")}


class ColdOffsets:
    def __init__(self, d, y):
        step = max(1, -(-len(y) // _ROWS))
        self.rows = np.arange(0, len(y), step)
        self.y = y[self.rows]
        self.d = d
        # only a side with entities without ratings (known from attributes) needs one
        self.sides = [s for s, (b, *_) in _SIDES.items()
                      if np.bincount(d.ent[b] - d.bent[b],
                                     minlength=int(d.bent[b + 1] - d.bent[b])).min() == 0]
        self.sums = dict.fromkeys(self.sides + (["both"] if len(self.sides) == 2 else []), 0.0)
        self.n = self.seen = 0  # samples measured, samples given
        self.inv = {}
        for side in self.sides:
            b, _, _, set_name = _SIDES[side]
            if set_name in d.group_names:
                mine = d.ent[b][self.rows] - d.bent[b]
                # the other entity's set size: how many ratings it has
                count = np.bincount(d.ent[1 - b] - d.bent[1 - b])
                self.inv[side] = (mine, 1.0 / np.sqrt(count[d.ent[1 - b][self.rows]
                                                            - d.bent[1 - b]]))
        self.time = (d.ent[2][self.rows] if "time" in d.block_names else None)
        X = d.entity_features()
        self.attrs = {s: self._attributes(X, s) for s in self.sides}
        # a new user's errors item by item: each item's own offset for new users
        self.item_of_row = d.ent[1][self.rows] - d.bent[1]
        self.n_items = int(d.bent[2] - d.bent[1])
        self.row_err = np.zeros(len(self.rows))  # a new user's, summed over samples

    def _attributes(self, X, side):
        """(entities x attributes of ``side``, their feature numbers); none without."""
        b, _, attr, _ = _SIDES[side]
        ents = slice(int(self.d.bent[b]), int(self.d.bent[b + 1]))
        if attr not in self.d.group_names:
            return sp.csr_matrix((ents.stop - ents.start, 0)), slice(0, 0)
        cols = self.d.group_slice(attr)
        return X[ents][:, cols], cols

    def add(self, state) -> None:
        self.seen += 1
        if (self.seen - 1) % _EVERY:
            return
        self.n += 1
        for side in self.sides:
            err = self.y - self._predict(state, side)
            self.sums[side] += float(np.mean(err))
            if side == "user":
                self.row_err += err
        if "both" in self.sums:
            self.sums["both"] += float(np.mean(self.y - self._predict_both(state)))

    def offsets(self, sigma: float) -> dict:
        """In rating units: {"user", "item", "both": the mean error of predictions for a
        new user, a new item, and both new; "user_by_item": a new user's mean error on
        each item, shrunk toward the user offset by the spread of those errors (an item
        without rated rows in the subsample gets the user offset)}."""
        out = {s: (v / self.n * sigma if self.n else 0.0) for s, v in self.sums.items()}
        if "user" in out and self.n:
            out["user_by_item"] = self._by_item() * sigma
        return out

    def _by_item(self) -> np.ndarray:
        """Each item's mean error, shrunk: n_i / (n_i + k) of the way from the overall
        mean, k = within-item variance / between-item variance of the rows' errors (each
        a mean over the samples; moments over items)."""
        err = self.row_err / self.n
        n_i = np.bincount(self.item_of_row, minlength=self.n_items).astype(np.float64)
        has = n_i > 0
        total = float(err.mean())
        item_mean = np.bincount(self.item_of_row, err, self.n_items) / np.maximum(n_i, 1)
        mean_i = item_mean[has]
        within = float(((err - item_mean[self.item_of_row]) ** 2).sum()) / max(
            err.size - has.sum(), 1)
        between = float(np.average((mean_i - total) ** 2, weights=n_i[has])) \
            - within * has.sum() / err.size
        out = np.full(self.n_items, total)
        if between > 0:
            k = within / between
            out[has] = total + n_i[has] / (n_i[has] + k) * (mean_i - total)
        return out

    def _new(self, state, side):
        """(vector, bias and within-block term) of each entity of ``side`` made new."""
        d = self.d
        g = d.group_names.index(side)
        A, ga = self.attrs[side]
        V = state.VT[:, ga].T
        P = state.mu_v[g] + A @ V
        s2 = state.mu_v[g] ** 2 + A.power(2) @ (V * V)
        return P, state.mu_w[g] + A @ state.w[ga] + 0.5 * (P * P - s2).sum(axis=1)

    def _predict(self, state, side):
        d = self.d
        b, o, _, set_name = _SIDES[side]
        P, term = self._new(state, side)
        mine = d.ent[b][self.rows] - d.bent[b]
        other = d.ent[o][self.rows]
        out = np.empty(len(self.rows))
        for at in range(0, len(self.rows), _CHUNK):
            c = slice(at, at + _CHUNK)
            q, s2 = state.q[:, other[c]].T, state.s2[:, other[c]].T
            lin = state.lin[other[c]]
            if side in self.inv:  # its own feature in the other's set: the prior mean
                gs = d.group_names.index(set_name)
                f = d.group_slice(set_name).start + self.inv[side][0][c]
                inv = self.inv[side][1][c][:, None]
                v = state.VT[:, f].T
                q = q + inv * (state.mu_v[gs] - v)
                s2 = s2 + inv * inv * (state.mu_v[gs] ** 2 - v * v)
                lin = lin + inv[:, 0] * (state.mu_w[gs] - state.w[f])
            p = P[mine[c]]
            out[c] = (state.w0 + term[mine[c]] + lin + 0.5 * (q * q - s2).sum(axis=1)
                      + (p * q).sum(axis=1))
            if self.time is not None:  # a new user's pairs are at a new bin
                out[c] += (state.lin[self.time[c]] if side == "item"
                           else state.mu_w[d.group_names.index("time")])
        return out

    def _predict_both(self, state):
        """The rows predicted with the user and the item both new (at a new time bin)."""
        d = self.d
        P, tu = self._new(state, "user")
        R, ti = self._new(state, "item")
        u, i = d.ent[0][self.rows] - d.bent[0], self.item_of_row
        out = state.w0 + tu[u] + ti[i] + np.einsum("ij,ij->i", P[u], R[i])
        if self.time is not None:
            out += state.mu_w[d.group_names.index("time")]
        return out
