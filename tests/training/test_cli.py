"""`python -m training` options are derived from TrainConfig: every field, parsed with its own type; a bool
takes true/false, and `--unigram-logit-bias False` is False (it used to be bool("False") == True)."""
import typing
from dataclasses import fields

import pytest

from corpus.storage import Layout
from training.__main__ import parser
from training.config import TrainConfig


def _parse(tmp_path, *argv: str) -> dict:
    args = vars(parser(Layout(tmp_path)).parse_args(list(argv)))
    args.pop("shards"), args.pop("checkpoints")
    return args


@pytest.mark.parametrize(("text", "value"), [("False", False), ("false", False), ("0", False), ("no", False),
                                             ("True", True), ("true", True), ("1", True), ("yes", True)])
def test_bool_options_parse_true_and_false(tmp_path, text, value):
    assert _parse(tmp_path, "--unigram-logit-bias", text)["unigram_logit_bias"] is value


def test_a_bool_option_refuses_anything_else(tmp_path, capsys):
    with pytest.raises(SystemExit):
        _parse(tmp_path, "--unigram-logit-bias", "maybe")
    assert "'maybe' is not a bool" in capsys.readouterr().err


def test_every_field_is_an_option_with_its_default_and_type(tmp_path):
    assert TrainConfig(**_parse(tmp_path)) == TrainConfig()
    hints = typing.get_type_hints(TrainConfig)
    parsed = _parse(tmp_path, "--max-steps", "7", "--lr", "0.5", "--run-name", "x", "--beta2", "0.9")
    assert (parsed["max_steps"], parsed["lr"], parsed["run_name"], parsed["beta2"]) == (7, 0.5, "x", 0.9)
    assert all(isinstance(parsed[f.name], hints[f.name]) for f in fields(TrainConfig))
