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


def test_the_work_directory_must_be_new_empty_or_ring_checks_own(tmp_path):
    mine = tmp_path / "new" / "work"
    rc.claim_work(mine)
    (mine / "local-P2-R64.log").write_text("ours")
    rc.claim_work(mine)  # again: its own
    users = tmp_path / "users"
    users.mkdir()
    (users / "notes.txt").write_text("a user's file")
    with pytest.raises(ValueError, match="holds files ring_check did not make"):
        rc.claim_work(users)
    assert (users / "notes.txt").read_text() == "a user's file" and not (users / rc.MARKER).exists()
    with pytest.raises(ValueError, match="is a file"):
        rc.claim_work(users / "notes.txt")
    empty = tmp_path / "empty"
    empty.mkdir()
    rc.claim_work(empty)
    assert (empty / rc.MARKER).is_file()


def _saved():
    figures = {"loop_s": 3.0, "wait_s": 0.1, "kernel_s_per_task": 2.9, "vocab_size": 27000}
    return {"link": {"h0_ms": 1.0, "bw_mb_per_s": 900.0}, "handover_cpu": {"c0": 5e-4, "bw_cpu": 8e8},
            "tokens": 5100000, "rate": "10gbit",
            "rows": [{"P": 2, "R": 16, "h_ms": 7.0, "u_ms": 9.0, "local": dict(figures), "hosts": dict(figures)}]}


@pytest.mark.parametrize("damage,what", [
    (lambda d: d.pop("link"), "not a ring_check.json"),
    (lambda d: d["rows"][0].update(P=3), "not a ring_check.json"),
    (lambda d: d["rows"][0]["hosts"].update(loop_s=float("nan")), "not finite"),
    (lambda d: d["rows"][0].update(u_ms=-1.0), "negative"),
    (lambda d: d["rows"][0]["local"].update(wait_s="fast"), "missing"),
    (lambda d: d.update(rows=[]), "missing"),
])
def test_a_saved_comparison_is_checked_before_it_is_reanalysed(tmp_path, damage, what):
    import json

    good = tmp_path / "good.json"
    good.write_text(json.dumps(_saved()))
    assert rc.load_saved(str(good))["rows"][0]["P"] == 2
    bad = _saved()
    damage(bad)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(ValueError, match=what):
        rc.load_saved(str(path))
