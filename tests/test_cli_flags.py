"""Every ``ssdzoo train`` flag's bad or edge value: one clear line and exit 2, or a documented
meaning — never a traceback. Also backbone options against every registered backbone."""

import re
import warnings
from pathlib import Path

import pytest

import ssdzoo
from ssdzoo.cli import build_parser, main
from ssdzoo.cli.train import config_from_args
from ssdzoo.training.run import build_model

DEMO = Path(__file__).parents[1] / "examples" / "bccd_demo.toml"

# (flags, the one error line's pattern after "ssdzoo train: error: ")
BAD_TRAIN_FLAGS = [
    (["--batch-size", "0"], r"batch_size must be an integer >= 1, got 0"),
    (["--batch-size", "-3"], r"batch_size must be an integer >= 1, got -3"),
    (["--batch-size", "x"], r"argument --batch-size: invalid int value: 'x'"),
    (["--zoom-out", "0.5"], r"zoom_out is a canvas/image ratio >= 1 \(1 = off\), got 0.5"),
    (["--batch-size", ""], r"argument --batch-size: invalid int value: ''"),
    (["--epochs", "0"], r"epochs must be an integer >= 1, got 0"),
    (["--epochs", "2.5"], r"argument --epochs: invalid int value: '2.5'"),
    (["--steps-per-epoch", "0"], r"steps_per_epoch must be an integer >= 1, got 0"),
    (["--lr", "0"], r"lr must be a number > 0, got 0.0"),
    (["--lr=-1e-3"], r"lr must be a number > 0, got -0.001"),
    (["--lr", "nan"], r"lr must be a number > 0, got nan"),
    (["--lr", "fast"], r"argument --lr: invalid float value: 'fast'"),
    (["--momentum", "1.5"], r"momentum must be in \[0, 1\), got 1.5"),
    (["--weight-decay", "-1"], r"weight_decay must be a number >= 0 \(0 = off\), got -1.0"),
    (["--clipnorm", "-1"], r"clipnorm must be a number >= 0 \(0 = off\), got -1.0"),
    (["--warmup-steps", "-1"], r"warmup_steps must be an integer >= 0, got -1"),
    (["--lr-decay-at", "0.5", "1.5"], r"lr_decay_at takes fractions of the run in \(0, 1\), got \[0.5, 1.5\]"),
    (["--freeze-epochs", "-2"], r"freeze_epochs must be an integer >= 0, got -2"),
    (["--eval-every", "-1"], r"eval_every must be an integer >= 0, got -1"),
    (["--input-size", "416"], r"input_size must be 300 or 512, got 416"),
    (["--head-width", "0"], r"head_width must be a number > 0, got 0.0"),
    (["--optimizer", "rmsprop"], r"unknown optimizer 'rmsprop'; choose from \('auto', 'sgd', 'adam'\)"),
    (["--backbone", ""], r"unknown backbone ''; registered: .*"),
    (["--out", ""], r"out must name an output folder"),
    (["--format", "pascal"], r"unknown annotation format 'pascal'; expected one of voc, .*"),
    (["--val-split", "none", "--test-split", "none"], r"val_split and test_split are both none: .*"),
    (["--cache", "maybe"], r"argument --cache: expected true, false or auto, got 'maybe'"),
    (["--backbone-option", "alpha"], r"argument --backbone-option: expected KEY=VALUE, got 'alpha'"),
    (["--backbone", "small", "--backbone-option", "alpha=0.5"],
     r"backbone 'small' takes no option 'alpha'; it takes options width \(default 32\)"),
    (["--backbone", "small", "--alpha", "0.5"],
     r"backbone 'small' takes no option 'alpha'; it takes options width \(default 32\)"),
    (["--backbone", "vgg16", "--backbone-option", "depth=3"],
     r"backbone 'vgg16' takes no option 'depth'; it takes no options"),
    (["--backbone", "mobilenet", "--backbone-option", "alpha=wide"],
     r"backbone 'mobilenet' option alpha='wide': expected a number"),
    (["--backbone", "small", "--backbone-option", "width=2.5"],
     r"backbone 'small' option width='2.5': expected an integer"),
    (["--time-budget", "10x"], r"argument --time-budget: time_budget must be minutes or a duration like 90s, "
                               r"10m, 1h30m; got '10x'"),
    (["--time-budget", "0"], r"time_budget must be a duration > 0 \(minutes, or e.g. 90s, 10m, 1h30m\), got 0.0"),
    (["--distribute", "tpu"], r"unknown distribute 'tpu'; choose from \('auto', 'none', 'mirrored', 'multiworker'\)"),
    (["--backup-every", "-1"], r"backup_every must be an integer >= 0, got -1"),
    (["--mixed-precision", "maybe"], r"argument --mixed-precision: expected true or false, got 'maybe'"),
    (["--batch-size"], r"argument --batch-size: expected one argument"),
    (["--no-such-flag"], r"unrecognized arguments: --no-such-flag"),
]


@pytest.mark.parametrize("flags, message", BAD_TRAIN_FLAGS, ids=[" ".join(f) or "empty" for f, _ in BAD_TRAIN_FLAGS])
def test_bad_train_flag_is_one_line_and_exit_2(flags, message, tiny_voc, tmp_path, capsys):
    out = tmp_path / "run"
    defaults = ["--data", str(tiny_voc), "--out", str(out)]
    if "--out" in flags:
        defaults = defaults[:2]
    try:
        code = main(["train", *defaults, *flags])
    except SystemExit as exit_:  # argparse's own errors exit from parse_args
        code = exit_.code
    stdout, stderr = capsys.readouterr()
    assert code == 2, stdout + stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert re.fullmatch(r"ssdzoo train: error: " + message, lines[0]), lines[0]
    assert not out.exists()


def test_a_config_file_for_another_backbone_warns_and_drops_its_option(capsys):
    args = build_parser().parse_args(["train", "--config", str(DEMO), "--backbone", "small"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        config = config_from_args(args)
    assert config.backbone == "small" and config.backbone_options == {}
    assert [str(w.message) for w in caught] == [
        f"config {DEMO}: backbone option alpha=0.5 is ignored: backbone 'small' takes options "
        f"width (default 32)"]


def test_the_demo_config_keeps_its_option_for_its_own_backbone():
    args = build_parser().parse_args(["train", "--config", str(DEMO)])
    config = config_from_args(args)
    config.validate()
    assert config.backbone == "mobilenet" and config.backbone_options == {"alpha": 0.5}


def test_an_old_config_with_a_top_level_alpha_still_reads(tmp_path):
    (tmp_path / "old.toml").write_text('backbone = "mobilenet"\nalpha = 0.25\n')
    config = config_from_args(build_parser().parse_args(["train", "--config", str(tmp_path / "old.toml")]))
    assert config.backbone_options == {"alpha": 0.25}


@pytest.mark.parametrize("backbone", ssdzoo.list_backbones())
def test_the_demo_config_builds_every_registered_backbone(backbone):
    args = build_parser().parse_args(["train", "--config", str(DEMO), "--backbone", backbone,
                                      "--weights", "none"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the dropped alpha, checked above
        config = config_from_args(args)
    config.validate()
    model, note = build_model(config, ["a", "b", "c"])
    assert model.backbone_name == backbone and note == "None"
    assert model.backbone_options == ({"alpha": 0.5} if backbone == "mobilenet" else {})
    assert model.output_shape == (None, 8732, 4 + 3 + 1)


@pytest.mark.parametrize("backbone", [pytest.param("mobilenet", marks=pytest.mark.slow), "small"])
def test_the_demo_config_trains_with_another_backbone_from_the_cli(backbone, tiny_voc, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "--config", str(DEMO), "--backbone", backbone, "--data", str(tiny_voc),
                 "--weights", "none", "--epochs", "1", "--steps-per-epoch", "1", "--batch-size", "2",
                 "--eval-every", "0", "--out", str(out)])
    stdout, stderr = capsys.readouterr()
    assert code == 0, stderr
    assert (out / "report.md").is_file() and (out / "last.keras").is_file()
    foreign = "warning: config" in stderr and "alpha=0.5 is ignored" in stderr
    assert foreign == (backbone != "mobilenet"), stderr


def test_build_rejects_an_option_the_backbone_does_not_take():
    with pytest.raises(ValueError, match=r"backbone 'small' takes no option 'alpha'; it takes options width"):
        ssdzoo.build("small", 3, weights=None, alpha=0.5)


def test_info_lists_each_backbones_options(capsys):
    assert main(["info", "mobilenet", "small", "vgg16", "--num-classes", "3"]) == 0
    rows = {line.split("|")[1].strip(): line for line in capsys.readouterr().out.splitlines()[2:]}
    assert "alpha=1.0" in rows["mobilenet"] and "width=32" in rows["small"]
    assert "| - |" in rows["vgg16"]


@pytest.mark.slow
@pytest.mark.parametrize("backbone", ssdzoo.list_backbones())
def test_the_demo_config_trains_every_backbone_from_the_cli(backbone, tiny_voc, tmp_path, capsys):
    code = main(["train", "--config", str(DEMO), "--backbone", backbone, "--data", str(tiny_voc),
                 "--weights", "none", "--epochs", "1", "--steps-per-epoch", "1", "--batch-size", "2",
                 "--eval-every", "0", "--out", str(tmp_path / "run")])
    assert code == 0, capsys.readouterr().err


def test_optional_number_flags_take_none_over_a_config_file():
    """`--prior-probability none` undoes the demo config's 0.01 (the previous recipe from the CLI),
    `--time-budget none` its time budget (a fixed-step run, as the ablation trains)."""
    import argparse

    from ssdzoo.cli.train import _add_flags, config_from_args

    parser = argparse.ArgumentParser()
    _add_flags(parser)
    demo = str(Path(__file__).parents[1] / "examples" / "bccd_demo.toml")
    args = parser.parse_args(["--config", demo, "--prior-probability", "none",
                              "--steps-per-epoch", "NONE", "--warmup-steps", "300", "--time-budget", "none"])
    config = config_from_args(args)
    assert (config.prior_probability, config.steps_per_epoch, config.warmup_steps) == (None, None, 300)
    assert config.time_budget is None and config_from_args(parser.parse_args(["--config", demo])).time_budget == 12
    with pytest.raises(SystemExit):
        parser.parse_args(["--prior-probability", "abc"])
