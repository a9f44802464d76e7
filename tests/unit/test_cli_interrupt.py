"""Ctrl-C ends a job with one line and exit 130 whatever the interrupted call raises on its way
out: a KeyboardInterrupt, or the error py4j raises when the interrupt hit it mid-call."""

import pytest

from sparkw2v import cli


@pytest.fixture(autouse=True)
def fresh_state():
    cli._STATE.update(interrupted=False, verbose=False)
    yield
    cli._STATE.update(interrupted=False)


def test_keyboard_interrupt_is_one_line_and_130(capsys):
    def body():
        raise KeyboardInterrupt

    assert cli.run("train", body, interrupted="run it again") == cli.EXIT_INTERRUPTED
    assert capsys.readouterr().err.strip() == "train: interrupted (Ctrl-C); run it again"


def test_an_error_raised_after_the_interrupt_is_the_interrupt(capsys):
    """What py4j raises once the signal handler interrupted its call (Py4JNetworkError "Answer
    from Java side is empty", with the KeyboardInterrupt as its context)."""
    def body():
        try:
            cli._STATE["interrupted"] = True  # what cli._on_interrupt does before it raises
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise RuntimeError("Answer from Java side is empty")

    assert cli.run("train", body, interrupted=lambda: "resume it") == cli.EXIT_INTERRUPTED
    assert capsys.readouterr().err.strip() == "train: interrupted (Ctrl-C); resume it"


def test_the_same_error_without_an_interrupt_is_not_hidden():
    def body():
        raise RuntimeError("a bug")

    with pytest.raises(RuntimeError, match="a bug"):
        cli.run("train", body)
