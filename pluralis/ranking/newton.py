"""Batched damped Newton: many small convex problems minimised at once (Bradley–Terry and its style variant).

Why not :func:`scipy.optimize.minimize`: a bootstrap fits hundreds of problems of a dozen to a few
hundred coefficients; one batched LU solve per step over all of them (``numpy.linalg.solve`` on a
stack) costs about as much as one scipy call per problem, and each problem is retired as soon as its
step is below ``tol`` (a bootstrap resample started from the pooled fit usually needs two or three
steps; a few need more). ``tests/ranking/test_parallel_bootstrap.py`` checks the answers against
scipy's BFGS problem by problem.

Example
-------
>>> import numpy as np
>>> c = np.array([[1.0, -2.0], [3.0, 0.5]])               # minimise |x - c_r|^2 / 2 + sum(x^4) / 4
>>> value = lambda x, rows: (((x - c[rows]) ** 2).sum(1) / 2 + (x**4).sum(1) / 4, x**2)
>>> derivatives = lambda x, x2, rows: (x - c[rows] + x * x2, np.eye(2) + 3 * x2[:, :, None] * np.eye(2))
>>> x, converged = damped_newton(np.zeros((2, 2)), value, derivatives)
>>> bool(converged.all()), bool(np.abs(x + x**3 - c).max() < 1e-9)
(True, True)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["damped_newton"]


def damped_newton(
    theta: np.ndarray,
    value: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
    derivatives: Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
    *,
    tol: float = 1e-10,
    max_iter: int = 100,
    max_halvings: int = 40,
) -> tuple[np.ndarray, np.ndarray]:
    """Minimise ``R`` convex problems from ``theta`` ``(R, d)`` by Newton steps with step halving.

    Parameters
    ----------
    theta
        ``(R, d)`` starting points (not modified).
    value
        ``value(x, rows)``: the objectives ``(k,)`` of problems ``rows`` (indices into the batch) at
        ``x`` ``(k, d)``, and ``(k, ...)`` intermediate values the derivatives reuse (e.g. the
        fitted probabilities, so the accepted point costs no second exponential).
    derivatives
        ``derivatives(x, saved, rows)``: gradients ``(k, d)`` and Hessians ``(k, d, d)`` at ``x``
        (``saved``: what ``value`` returned there).
    tol
        a problem is converged once its Newton step is below ``tol`` in every coordinate.
    max_iter, max_halvings
        Newton steps, and step halvings per step (a step is halved until the objective does not rise).

    Returns
    -------
    theta : numpy.ndarray
        ``(R, d)`` solutions.
    converged : numpy.ndarray
        ``(R,)`` bool.

    See Also
    --------
    pluralis.ranking.methods.bt.bt_from_counts, pluralis.ranking.methods.style_bt.style_bt_fit

    Example
    -------
    >>> value = lambda x, rows: (((x - 3.0) ** 2).sum(1), x)   # nothing worth saving: x itself
    >>> derivatives = lambda x, saved, rows: (2 * (x - 3.0), np.full((len(x), 1, 1), 2.0))
    >>> x, ok = damped_newton(np.zeros((4, 1)), value, derivatives)
    >>> x.ravel().tolist(), ok.tolist()
    ([3.0, 3.0, 3.0, 3.0], [True, True, True, True])
    """
    theta = np.array(theta, dtype=float, copy=True)
    active = np.arange(theta.shape[0])
    f, saved = value(theta, active)
    for _ in range(max_iter):
        if not len(active):
            break
        x = theta[active]
        grad, hess = derivatives(x, saved, active)
        step = np.linalg.solve(hess, grad[..., None])[..., 0]
        small = np.abs(step).max(axis=1) < tol  # converged: take the step, skip the evaluation
        cand = x - step
        f_new, saved_new = f.copy(), saved.copy()
        ev = np.flatnonzero(~small)
        if len(ev):
            f_new[ev], saved_new[ev] = value(cand[ev], active[ev])
        t = np.ones((len(active), 1))
        for _halving in range(max_halvings):
            bad = np.flatnonzero(~(f_new <= f + 1e-12 * np.abs(f)) & ~small)
            if not len(bad):
                break
            t[bad] *= 0.5
            cand[bad] = x[bad] - t[bad] * step[bad]
            f_new[bad], saved_new[bad] = value(cand[bad], active[bad])
        done = small | (np.abs(cand - x).max(axis=1) < tol)
        theta[active] = cand
        active, f, saved = active[~done], f_new[~done], saved_new[~done]
    converged = np.ones(theta.shape[0], dtype=bool)
    converged[active] = False
    return theta, converged
