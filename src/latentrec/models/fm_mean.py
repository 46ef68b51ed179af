"""The factorization machine's posterior mean, as factors and biases.

Training rows always have their own item among the user's implicit items and their own
user among the item's flipped users; the pair to predict has neither (it is not rated
yet). Predicting it as the model saw every training row, i.e. as if it were rated (the
item joins the user's set and the user the item's, every weight 1/sqrt(n + 1)), is what
the posterior mean is taken of. Per sample, with P_u the user's block vector under that
normalisation, R_i the item's, z_i item i's implicit-feature factors, g_u user u's
flipped-feature factors and x_u = 1/sqrt(n_u + 1), y_i = 1/sqrt(m_i + 1):

    y(u, i) = w0 + b_u + b_i + P_u.R_i + (x_u g_u).(y_i z_i) + (x_u P_u).z_i + g_u.(y_i R_i)
              + x_u (z_i.R_i + w_imp_i) + y_i (P_u.g_u + w_flip_u)

(b_u: the user block's linear and within-block terms, likewise b_i): a sum of inner
products of a user-side and an item-side vector, plus two rank-one terms whose scalars
x_u and y_i do not depend on the sample. The mean over samples is kept at a bounded
rank (lowrank_mean.py); the stored factors are that mean's two sides with [x_u, mean of
P_u.g_u + w_flip_u] and [mean of z_i.R_i + w_imp_i, y_i] beside them. Without the
implicit and flipped groups this is the plain mean of q_u.q_i.

With a time block (biases only: models/fm_design.py), a rating's time bin t adds w_t;
its mean is kept per bin, and for a new bin it is the group's prior mean.

The model adds one more column pair for users and items without ratings
(models/fm_cold.py, ``fm._new_entity_parts``).

The product's user side also has rows for what a new user is made of (the prior mean of
a user id's factors, the implicit items' factors, the user attributes', in the slots
they take), so a folded-in user is a weighted sum of them.
"""

from __future__ import annotations

import numpy as np

from .lowrank_mean import LowRankMean


class PosteriorMean:
    def __init__(self, d, rank):
        self.d = d
        X = d.entity_features()
        self.users, self.items = d.block_entities("user"), d.block_entities("item")
        self.imp = d.group_slice("implicit") if "implicit" in d.group_names else None
        self.flip = d.group_slice("flipped") if "flipped" in d.group_names else None
        self.attr = (d.group_slice("user_attributes") if "user_attributes" in d.group_names
                     else None)
        self.Ximp = None if self.imp is None else X[self.users][:, self.imp]
        self.Xflip = None if self.flip is None else X[self.items][:, self.flip]
        n_u = self.users.stop - self.users.start
        n_i = self.items.stop - self.items.start
        self.xu = _as_if_weights(self.Ximp, n_u)
        self.yi = _as_if_weights(self.Xflip, n_i)
        self.n, self.w0 = 0, 0.0
        self.bias_u, self.bias_i = np.zeros(n_u), np.zeros(n_i)
        self.cu, self.ci = np.zeros(n_u), np.zeros(n_i)
        self.w_sum = np.zeros(d.n_features)
        self.mu_w_sum = np.zeros(len(d.group_names))
        self.product = LowRankMean(rank)
        self.gram = None
        # time: the mean bias of each bin, and of a new bin (the prior mean) last
        self.time = d.block_entities("time") if "time" in d.block_names else None
        if self.time is not None:
            self.time_w = np.zeros(self.time.stop - self.time.start + 1)

    # -- one sample ----------------------------------------------------------------------
    def _side(self, state, ents, X):
        """(P, s2P, linP) of one block's entities with its set renormalised as if rated."""
        q, s2, lin = state.q[:, ents].T, state.s2[:, ents].T, state.lin[ents]
        if X is None:
            return q, s2, lin
        cols = self.imp if X is self.Ximp else self.flip
        V, w = state.VT[:, cols].T, state.w[cols]
        n = np.diff(X.indptr)
        rho = np.sqrt(n / (n + 1.0))[:, None]
        part, part2 = X @ V, X.power(2) @ (V * V)
        return (q + (rho - 1) * part, s2 + (rho * rho - 1) * part2,
                lin + (rho[:, 0] - 1) * (X @ w))

    def _vectors(self, state):
        """This sample's user-side and item-side vectors, rank-one scalars and biases."""
        P, s2P, linP = self._side(state, self.users, self.Ximp)
        R, s2R, linR = self._side(state, self.items, self.Xflip)
        xu, yi = self.xu[:, None], self.yi[:, None]
        U, I_ = [P], [R]
        Z = None if self.imp is None else state.VT[:, self.imp].T
        G = None if self.flip is None else state.VT[:, self.flip].T
        cu, ci = np.zeros(len(P)), np.zeros(len(R))
        if Z is not None and G is not None:
            U.append(xu * G)
            I_.append(yi * Z)
        if Z is not None:
            U.append(xu * P)
            I_.append(Z)
            ci = (Z * R).sum(axis=1) + state.w[self.imp]
        if G is not None:
            U.append(G)
            I_.append(yi * R)
            cu = (P * G).sum(axis=1) + state.w[self.flip]
        bu = linP + 0.5 * (P * P - s2P).sum(axis=1)
        bi = linR + 0.5 * (R * R - s2R).sum(axis=1)
        return np.hstack(U), np.hstack(I_), cu, ci, bu, bi

    def add(self, state, pairs=None):
        """Add one sample; returns its predictions of ``pairs`` (users, items, time bins
        or None: a new bin), if given."""
        U, I_, cu, ci, bu, bi = self._vectors(state)
        self.n += 1
        self.w0 += state.w0
        self.bias_u += bu
        self.bias_i += bi
        self.cu += cu
        self.ci += ci
        self.w_sum += state.w
        self.mu_w_sum += state.mu_w
        self.product.add([U, self._fold_in_rows(state, U.shape[1])], I_)
        self._add_gram(state)
        wt = None
        if self.time is not None:
            g = self.d.group_names.index("time")
            wt = np.append(state.lin[self.time], state.mu_w[g])
            self.time_w += wt
        if pairs is None:
            return None
        u, i, t = pairs
        pred = (state.w0 + bu[u] + bi[i] + np.einsum("ij,ij->i", U[u], I_[i])
                + self.xu[u] * ci[i] + self.yi[i] * cu[u])
        if wt is not None:
            pred += wt[np.full(u.size, len(wt) - 1) if t is None else t]
        return pred

    def _x_p_slot(self, K):
        """Column offset of the user side's x P slot (P is at 0), or None without it."""
        if self.imp is None:
            return None
        return 2 * K if self.flip is not None else K

    def _fold_in_rows(self, state, width):
        """Rows of the user side for a new user's parts: [prior, implicit items..., user
        attributes...] in the P slot, then the same in the x P slot (if there is one)."""
        d, K = self.d, state.VT.shape[0]
        base = [state.mu_v[d.group_names.index("user")][None, :]]
        if self.imp is not None:
            base.append(state.VT[:, self.imp].T)
        if self.attr is not None:
            base.append(state.VT[:, self.attr].T)
        B = np.vstack(base)
        rows = np.zeros((B.shape[0] * (2 if self.imp is not None else 1), width))
        s3 = self._x_p_slot(K)
        rows[:B.shape[0], :K] = B
        if s3 is not None:
            rows[B.shape[0]:, s3:s3 + K] = B
        return rows

    def _add_gram(self, state):
        if self.attr is None:
            return
        d = self.d
        Zs = np.hstack([state.mu_v[d.group_names.index("user")][:, None],
                        state.VT[:, self.attr]])
        self.gram = Zs.T @ Zs if self.gram is None else self.gram + Zs.T @ Zs

    # -- the fitted model ----------------------------------------------------------------
    def fitted(self, sigma) -> dict:
        """Factors, biases and fold-in parts in rating units (x sigma)."""
        A, B = self.product.factors()
        root, n_u = np.sqrt(sigma), len(self.xu)
        user = np.hstack([A[:n_u] * root, self.xu[:, None] * root,
                          (self.cu / self.n)[:, None] * root])
        item = np.hstack([B * root, (self.ci / self.n)[:, None] * root,
                          self.yi[:, None] * root])
        parts = A[n_u:] * root
        n_base = parts.shape[0] // (2 if self.imp is not None else 1)
        time = {} if self.time is None else {"time_bias": self.time_w / self.n * sigma}
        return {**time, "user_factors": user, "item_factors": item,
                "user_bias": self.bias_u / self.n * sigma,
                "item_bias": self.bias_i / self.n * sigma,
                "w0": self.w0 / self.n, "fold_in_rows": parts[:n_base],
                "fold_in_rows_x": parts[n_base:] if self.imp is not None else None,
                "gram": (np.zeros((0, 0)) if self.gram is None else self.gram / self.n * sigma)}


def _as_if_weights(X, n):
    """1/sqrt(k + 1) for an entity whose set has k members; 0 without the group, and 0
    for an entity with an empty set (a user or item known only from its attributes):
    as if rated, its set would be the one pair at weight 1, ten times what a set of a
    hundred gives and never seen in training, so it keeps its empty set."""
    if X is None:
        return np.zeros(n)
    k = np.diff(X.indptr)
    return np.where(k > 0, 1.0 / np.sqrt(k + 1.0), 0.0)
