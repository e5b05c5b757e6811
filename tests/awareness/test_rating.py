"""Glicko-2 against the worked example of Glickman's paper, and the shape of the
agent/template games."""

from __future__ import annotations

import pytest

from clocher.awareness.rating import Rating, update, win_chance


def test_glickman_worked_example():
    """'Example of the Glicko-2 system' (2012), section 'Example calculation'."""
    player = Rating(1500, 200, 0.06)
    games = [(Rating(1400, 30), 1.0), (Rating(1550, 100), 0.0), (Rating(1700, 300), 0.0)]
    after = update(player, games)
    assert after.rating == pytest.approx(1464.06, abs=0.01)
    assert after.deviation == pytest.approx(151.52, abs=0.01)
    assert after.volatility == pytest.approx(0.05999, abs=0.00001)


def test_no_game_only_widens_the_deviation():
    after = update(Rating(1500, 200, 0.06), [])
    assert after.rating == 1500 and after.deviation == pytest.approx(200.271, abs=0.001)


def test_a_win_against_a_harder_opponent_moves_more_and_narrows_the_deviation():
    agent = Rating(1300, 350)
    easy, hard = Rating(1100, 200), Rating(1700, 200)
    gain_easy = update(agent, [(easy, 1.0)]).rating - agent.rating
    gain_hard = update(agent, [(hard, 1.0)]).rating - agent.rating
    assert 0 < gain_easy < gain_hard
    assert update(agent, [(hard, 1.0)]).deviation < agent.deviation
    assert win_chance(agent, easy) > 0.5 > win_chance(agent, hard)
