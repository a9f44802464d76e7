"""jobs/ring_check.py's arithmetic (the hosts' part needs root and runs as a job, not a test):
settings parsed and refused, and the CPU factor that makes the model's loop equal a measured one."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import numpy as np
import pytest

_SPEC = importlib.util.spec_from_file_location("ring_check", Path(__file__).resolve().parents[2] / "jobs" / "ring_check.py")
rc = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(rc)


def test_a_setting_is_p_colon_r_with_p_a_multiple_of_the_two_tasks():
    assert rc.parse_setting("4:32") == (4, 32)
    for bad in ("3:16", "4", "4:0", "a:b"):
        with pytest.raises(argparse.ArgumentTypeError):
            rc.parse_setting(bad)


@pytest.mark.parametrize("P,R,factor", [(2, 8, 1.7), (4, 4, 0.5), (4, 4, 3.0)])
def test_the_cpu_factor_gives_back_the_loop_it_was_made_from(P, R, factor):
    shares = np.random.default_rng(P * R).uniform(0.5, 1.5, (P, P))
    shares /= shares.sum()
    t_s, h, u = 0.01, 0.004, 0.006
    loop = rc.cm.critical_path(shares, 2, R, t_s, h, handover_cpu=factor * u)
    assert rc.cpu_factor(shares, R, t_s, h, u, loop) == pytest.approx(factor, rel=1e-6)


def test_the_cpu_factor_is_zero_or_infinite_where_the_cpu_cannot_explain_the_loop():
    shares = np.ones((2, 2)) / 4
    floor = rc.cm.critical_path(shares, 2, 4, 0.01, 0.004)
    assert rc.cpu_factor(shares, 4, 0.01, 0.004, 0.006, floor * 0.9) == 0.0
    assert rc.cpu_factor(shares, 4, 0.01, 0.004, 1e-6, floor * 10) == float("inf")
