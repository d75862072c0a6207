"""Reference solutions of the PDEs that ``examples/burgers.py`` and ``benchmarks/bench_pinn.py``
solve with physics-informed networks (numpy only; part of the examples, not of the library).

* :func:`cole_hopf`: viscous Burgers ``u_t + u u_x = nu u_xx`` with ``u(x, 0) = -sin(pi x)`` and
  ``u(+-1, t) = 0``, exact up to quadrature round-off.
* :func:`allen_cahn`: ``u_t = eps u_xx + 5 u - 5 u^3``, periodic on ``[-1, 1)``, by a Fourier
  pseudo-spectral method in space and the fourth-order exponential time differencing Runge-Kutta
  scheme (ETDRK4) in time, its coefficients by contour integrals so that they keep full precision
  for small linear eigenvalues.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np


def cole_hopf(x: np.ndarray, t: np.ndarray, nu: float, *, nodes: int = 2001, width: float = 12.0) -> np.ndarray:
    """Burgers' solution for ``u(x, 0) = -sin(pi x)`` by the Cole-Hopf transform, ``(len(t), len(x))``.

    ``u(x, t) = -int sin(pi (x - s z)) f(x - s z) exp(-z^2) dz / int f(x - s z) exp(-z^2) dz`` with
    ``f(y) = exp(-cos(pi y) / (2 pi nu))`` and ``s = sqrt(4 nu t)``, by the trapezoidal rule on
    ``nodes`` points of ``z in [-width, width]`` (the weights are shifted by their maximum, so the
    large exponents for small ``nu`` do not overflow).

    Raises:
        ValueError: for ``nu <= 0`` (the transform needs viscosity).
    """
    if nu <= 0:
        raise ValueError(f"the Cole-Hopf solution needs nu > 0, got {nu}; use reference=godunov")
    x = np.asarray(x, dtype=np.float64)
    z = np.linspace(-width, width, nodes)
    out = np.empty((len(t), len(x)))
    for row, time in enumerate(np.asarray(t, dtype=np.float64)):
        if time == 0:
            out[row] = -np.sin(np.pi * x)
            continue
        y = x[:, None] - math.sqrt(4 * nu * time) * z[None, :]  # (X, Z)
        log_weight = -np.cos(np.pi * y) / (2 * np.pi * nu) - z[None, :] ** 2
        weight = np.exp(log_weight - log_weight.max(axis=1, keepdims=True))
        out[row] = -(np.sin(np.pi * y) * weight).sum(axis=1) / weight.sum(axis=1)
    return out


def allen_cahn_initial(x: np.ndarray) -> np.ndarray:
    """The benchmark's initial condition ``u(x, 0) = x^2 cos(pi x)``."""
    return x**2 * np.cos(np.pi * x)


def allen_cahn(
    t: np.ndarray,
    *,
    points: int = 512,
    dt: float = 1e-4,
    eps: float = 1e-4,
    rate: float = 5.0,
    initial: Callable[[np.ndarray], np.ndarray] = allen_cahn_initial,
) -> tuple[np.ndarray, np.ndarray]:
    """``u_t = eps u_xx + rate (u - u^3)`` periodic on ``[-1, 1)``: ``(x, u)`` with ``x`` the ``points``
    grid points ``-1 + 2 j / points`` and ``u`` of shape ``(len(t), points)``.

    Fourier pseudo-spectral in ``x`` (wavenumbers ``pi k``), ETDRK4 (Cox & Matthews; coefficients by
    the contour integrals of Kassam & Trefethen, 64 points) in time with steps of at most ``dt``,
    shortened so that every time of ``t`` (sorted, ``>= 0``) is hit exactly. The linear part is
    ``rate - eps k^2``, the non-linear one ``-rate u^3``, evaluated on the grid (no dealiasing:
    the solution is resolved to round-off at 512 points).

    Raises:
        ValueError: for unsorted or negative ``t``, ``dt <= 0`` or an odd ``points``.
    """
    t = np.asarray(t, dtype=np.float64)
    if np.any(t < 0) or np.any(np.diff(t) < 0):
        raise ValueError("t must be sorted and >= 0")
    if dt <= 0:
        raise ValueError(f"dt must be > 0, got {dt}")
    if points % 2:
        raise ValueError(f"points must be even, got {points}")
    x = -1 + 2 * np.arange(points) / points
    k = np.pi * np.fft.fftfreq(points, d=1.0 / points)  # pi * (0, 1, ..., -1)
    linear = rate - eps * k**2
    roots = np.exp(1j * np.pi * (np.arange(1, 65) - 0.5) / 64)  # contour points on the unit circle

    def coefficients(h: float) -> tuple[np.ndarray, ...]:
        lh = h * linear
        z = lh[:, None] + roots[None, :]
        e, e2 = np.exp(lh), np.exp(lh / 2)
        q = h * np.real(np.mean((np.exp(z / 2) - 1) / z, axis=1))
        f1 = h * np.real(np.mean((-4 - z + np.exp(z) * (4 - 3 * z + z**2)) / z**3, axis=1))
        f2 = h * np.real(np.mean((2 + z + np.exp(z) * (-2 + z)) / z**3, axis=1))
        f3 = h * np.real(np.mean((-4 - 3 * z - z**2 + np.exp(z) * (4 - z)) / z**3, axis=1))
        return e, e2, q, f1, f2, f3

    def nonlinear(v: np.ndarray) -> np.ndarray:
        return -rate * np.fft.fft(np.real(np.fft.ifft(v)) ** 3)

    cache: dict[float, tuple[np.ndarray, ...]] = {}

    def step(v: np.ndarray, h: float) -> np.ndarray:
        if h not in cache:
            cache[h] = coefficients(h)
        e, e2, q, f1, f2, f3 = cache[h]
        nv = nonlinear(v)
        a = e2 * v + q * nv
        na = nonlinear(a)
        b = e2 * v + q * na
        nb = nonlinear(b)
        c = e2 * a + q * (2 * nb - nv)
        nc = nonlinear(c)
        return e * v + f1 * nv + 2 * f2 * (na + nb) + f3 * nc

    v = np.fft.fft(initial(x))
    out = np.empty((len(t), points))
    time = 0.0
    for row, target in enumerate(t):
        span = target - time
        if span > 0:
            count = max(1, math.ceil(span / dt - 1e-9))
            h = span / count
            for _ in range(count):
                v = step(v, h)
            time = target
        out[row] = np.real(np.fft.ifft(v))
    return x, out
