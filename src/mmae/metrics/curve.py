"""Area under a piecewise-linear curve up to an x limit (the MVTec AD ``trapezoid`` rule)."""

from __future__ import annotations

import numpy as np


def trapezoid_to_limit(x: np.ndarray, y: np.ndarray, x_max: float) -> float:
    """Trapezoid area under (x, y) from x[0] to ``x_max``, interpolating linearly at ``x_max``.

    Same rule as the MVTec AD evaluation: if ``x_max`` is one of the x values, all points with
    ``x <= x_max`` are integrated; otherwise the curve is cut at ``x_max`` by linear interpolation
    between the last point below and the first point above it.

    Args:
        x: non-decreasing float64 x values (repeated values allowed: vertical steps).
        y: y values of the same length.
        x_max: upper integration limit, with ``x[0] <= x_max <= x[-1]``.

    Returns:
        The area (float64).
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    correction = 0.0
    if not np.any(x == x_max):
        ins = int(np.searchsorted(x, x_max, side="right"))  # bisect.bisect_right
        if not 0 < ins < len(x):
            raise ValueError(f"x_max={x_max} is outside the curve's x range")
        x0, x1, y0, y1 = x[ins - 1], x[ins], y[ins - 1], y[ins]
        y_interp = y0 + (y1 - y0) * (x_max - x0) / (x1 - x0)
        correction = 0.5 * (y_interp + y0) * (x_max - x0)
    keep = x <= x_max
    x, y = x[keep], y[keep]
    return float(np.sum(0.5 * (y[1:] + y[:-1]) * (x[1:] - x[:-1])) + correction)


def cut_curve(x: np.ndarray, y: np.ndarray, x_max: float) -> tuple[np.ndarray, np.ndarray]:
    """The part of the curve with ``x <= x_max``, ending with the interpolated point at ``x_max``.

    Uses the same interpolation as :func:`trapezoid_to_limit`, so the trapezoid area of the
    returned points equals ``trapezoid_to_limit(x, y, x_max)`` up to rounding.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    keep = x <= x_max
    xs, ys = x[keep], y[keep]
    if not np.any(x == x_max):
        ins = int(np.searchsorted(x, x_max, side="right"))
        if not 0 < ins < len(x):
            raise ValueError(f"x_max={x_max} is outside the curve's x range")
        x0, x1, y0, y1 = x[ins - 1], x[ins], y[ins - 1], y[ins]
        y_interp = y0 + (y1 - y0) * (x_max - x0) / (x1 - x0)
        xs = np.append(xs, x_max)
        ys = np.append(ys, y_interp)
    return xs, ys
