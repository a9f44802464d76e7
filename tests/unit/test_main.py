"""The ``sparkw2v`` command: its subcommands are the jobs, with the package's own conf/."""

from pathlib import Path

import pytest

import sparkw2v
from sparkw2v import cli
from sparkw2v.__main__ import main
from sparkw2v.commands import SUBCOMMANDS, load


def test_every_subcommand_is_a_job_with_a_main():
    assert set(SUBCOMMANDS) == {"prepare", "train", "evaluate", "query", "report", "export"}
    for name in SUBCOMMANDS:
        module = load(name)
        assert callable(module.main) and module.__doc__
        jobs_entry = Path(sparkw2v.__file__).parents[1] / "jobs" / f"{name}.py"
        if jobs_entry.parent.is_dir():  # a checkout: jobs/NAME.py is the same program
            assert f"sparkw2v.commands.{name} import main" in jobs_entry.read_text()


def test_usage_path_and_unknown_subcommand(capsys):
    assert main([]) == 2 and "usage: sparkw2v SUBCOMMAND" in capsys.readouterr().out
    assert main(["--help"]) == 0 and "export" in capsys.readouterr().out
    assert main(["path", "train"]) == 0
    assert capsys.readouterr().out.strip() == load("train").__file__
    assert main(["nope"]) == 2
    assert "unknown subcommand 'nope'" in capsys.readouterr().err


def test_a_subcommand_runs_its_job(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--help"])
    assert exit_.value.code == 0 and "--input" in capsys.readouterr().out


def test_the_configuration_ships_inside_the_package():
    here = Path(sparkw2v.__file__).parent / "conf"
    assert cli.LOG4J2 == here / "log4j2.properties" and cli.LOG4J2.is_file()
    assert (here / "default.toml").is_file()
