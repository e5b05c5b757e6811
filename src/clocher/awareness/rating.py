"""Glicko-2 (Glickman, "Example of the Glicko-2 system", 2012) between agents and
templates: each side has a rating, a deviation (how unsure we are) and a volatility.

A campaign is one rating period. Each exercise is a game between an agent and the
template they received: the agent "wins" by reporting it, half-wins by ignoring it, loses
by clicking, and loses outright by submitting (scores in `clocher.awareness.services`).
The template plays the other side of every game, so its difficulty is learnt from the
results rather than only from its cues.

Pure functions on the Glicko-2 scale (μ, φ, σ); `to_glicko2`/`from_glicko2` convert from
and to the familiar scale (1500 ± 350).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

SCALE = 173.7178
TAU = 0.5  # how much volatility may change between periods (Glickman: 0.3 to 1.2)
EPSILON = 0.000001


@dataclass(frozen=True)
class Rating:
    """On the familiar scale: rating (1500 = average), deviation, volatility."""

    rating: float = 1500.0
    deviation: float = 350.0
    volatility: float = 0.06


def to_glicko2(r: Rating) -> tuple[float, float]:
    return (r.rating - 1500.0) / SCALE, r.deviation / SCALE


def g(phi: float) -> float:
    """Weight of a game against an opponent known to within `phi`."""
    return 1.0 / math.sqrt(1.0 + 3.0 * phi * phi / (math.pi * math.pi))


def expected(mu: float, mu_j: float, phi_j: float) -> float:
    """Chance that the player of `mu` wins against (`mu_j`, `phi_j`)."""
    return 1.0 / (1.0 + math.exp(-g(phi_j) * (mu - mu_j)))


def win_chance(player: Rating, opponent: Rating) -> float:
    mu, _ = to_glicko2(player)
    mu_j, phi_j = to_glicko2(opponent)
    return expected(mu, mu_j, phi_j)


def _volatility(sigma: float, phi: float, v: float, delta: float) -> float:
    """Step 5 of the paper: the new volatility, by the Illinois algorithm."""
    a = math.log(sigma * sigma)

    def f(x: float) -> float:
        ex = math.exp(x)
        return (ex * (delta * delta - phi * phi - v - ex)) / (2.0 * (phi * phi + v + ex) ** 2) - (
            x - a
        ) / (TAU * TAU)

    big_a = a
    if delta * delta > phi * phi + v:
        big_b = math.log(delta * delta - phi * phi - v)
    else:
        k = 1
        while f(a - k * TAU) < 0:
            k += 1
        big_b = a - k * TAU
    f_a, f_b = f(big_a), f(big_b)
    while abs(big_b - big_a) > EPSILON:
        big_c = big_a + (big_a - big_b) * f_a / (f_b - f_a)
        f_c = f(big_c)
        if f_c * f_b <= 0:
            big_a, f_a = big_b, f_b
        else:
            f_a /= 2.0
        big_b, f_b = big_c, f_c
    return math.exp(big_a / 2.0)


def update(player: Rating, games: Iterable[tuple[Rating, float]]) -> Rating:
    """The player's rating after one period of `games` (opponent, score in [0, 1]).
    No game: only the deviation grows (we know less of someone we did not see)."""
    mu, phi = to_glicko2(player)
    sigma = player.volatility
    played = [(*to_glicko2(opponent), score) for opponent, score in games]
    if not played:
        phi_star = math.sqrt(phi * phi + sigma * sigma)
        return Rating(player.rating, min(350.0, phi_star * SCALE), sigma)
    v_inv = 0.0
    delta_sum = 0.0
    for mu_j, phi_j, score in played:
        e = expected(mu, mu_j, phi_j)
        v_inv += g(phi_j) ** 2 * e * (1.0 - e)
        delta_sum += g(phi_j) * (score - e)
    v = 1.0 / v_inv
    delta = v * delta_sum
    sigma_new = _volatility(sigma, phi, v, delta)
    phi_star = math.sqrt(phi * phi + sigma_new * sigma_new)
    phi_new = 1.0 / math.sqrt(1.0 / (phi_star * phi_star) + 1.0 / v)
    mu_new = mu + phi_new * phi_new * delta_sum
    return Rating(1500.0 + SCALE * mu_new, SCALE * phi_new, sigma_new)
