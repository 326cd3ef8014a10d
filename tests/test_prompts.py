"""Prompts with scripted input, flag parsing (en dashes included) and --help."""
import io
import os
import subprocess
import sys

import pytest

from conftest import REPO, TINY_AE, TRAIN_IMAGES, assert_clean_error, env_with, run
from convae.cli import normalize_argv, resolve
from convae.errors import EndOfInput, UserError
from convae.params import Param, integer, integer_choice, integer_list, real, show
from convae.prompts import Prompter


def prompter(answers):
    out = io.StringIO()
    return Prompter(True, io.StringIO(answers), out), out


def test_enter_takes_the_default():
    p, out = prompter("\n")
    assert p.ask("Epochs", integer(1), 10) == 10
    assert "Epochs [10]: " in out.getvalue()


def test_invalid_answers_are_asked_again_with_the_accepted_range():
    p, out = prompter("abc\n0\n2.5\n7\n")
    assert p.ask("Epochs", integer(1, 100), 10) == 7
    shown = out.getvalue()
    assert "expected an integer from 1 to 100, got 'abc'" in shown
    assert "got 0" in shown and "got '2.5'" in shown
    assert shown.count("Epochs [10]: ") == 4


def test_end_of_input_is_a_clean_error():
    p, _ = prompter("abc\n")
    with pytest.raises(EndOfInput):
        p.ask("Epochs", integer(1), 10)


def test_an_empty_answer_without_default_is_asked_again():
    p, out = prompter("\n5\n")
    assert p.ask("Units", integer(1)) == 5
    assert "an answer is required" in out.getvalue()


def test_no_input_takes_defaults_and_refuses_questions_without_one():
    p = Prompter(False, io.StringIO(""), io.StringIO())
    assert p.ask("Epochs", integer(1), 10) == 10
    with pytest.raises(UserError) as info:
        p.ask("Training images", str, None, flag="-d")
    assert str(info.value) == "training images is required with --no-input (give -d)"


def test_a_list_default_of_one_value_is_offered_as_that_value_and_echoed_answers_read_well():
    p, out = prompter("\n\n32, 64\n")
    assert p.ask("Kernel", integer_list(1, 7), [3, 3, 3]) == [3, 3, 3]
    assert p.ask("Filters", integer_list(1, 512), [16, 32]) == [16, 32]
    assert p.ask("Filters", integer_list(1, 512), [16, 32]) == [32, 64]
    assert out.getvalue().splitlines() == ["Kernel [3]: ", "Filters [16,32]: ", "Filters [16,32]: 32, 64"]


def test_yes_or_no_takes_the_words_in_any_case_and_enter_takes_the_default():
    p, out = prompter("YES\nNo\n\nmaybe\ny\n")
    assert p.confirm("Save?") is True and p.confirm("Save?") is False
    assert p.confirm("Exit anyway?", default=True) is True
    assert p.confirm("Save?", default=True) is True
    shown = out.getvalue().splitlines()
    assert shown[:3] == ["Save? (y/n) [n]: YES", "Save? (y/n) [n]: No", "Exit anyway? (y/n) [y]: "]
    assert shown[3:] == ["Save? (y/n) [y]: maybe", "  expected y or n, got 'maybe'", "Save? (y/n) [y]: y"]


def test_questions_are_asked_by_default_and_say_what_is_missing_in_one_line():
    assert Prompter().enabled
    p, out = prompter("\n5\n")
    assert p.ask("Units", integer(1)) == 5
    assert out.getvalue().splitlines() == ["Units: ", "  an answer is required", "Units: 5"]
    p = Prompter(False, io.StringIO(""), io.StringIO())
    with pytest.raises(UserError) as info:
        p.ask("Units", integer(1))
    assert str(info.value) == "units is required with --no-input"


def test_a_list_default_of_several_values_is_offered_whole_and_a_piped_answer_is_echoed_as_typed():
    p, out = prompter("\n 3 , 5  \n")
    assert p.ask("Pooling", integer_list(1, 6), [2, 4]) == [2, 4]
    assert p.ask("Pooling", integer_list(1, 6), [2, 4]) == [3, 5]
    assert out.getvalue().splitlines() == ["Pooling [2,4]: ", "Pooling [2,4]:  3 , 5  "]


def test_a_stream_that_cannot_say_whether_it_is_a_terminal_is_taken_for_a_pipe():
    from convae.prompts import _isatty
    closed = io.StringIO()
    closed.close()
    assert _isatty(object()) is False and _isatty(closed) is False and _isatty(io.StringIO()) is False


def test_a_word_is_taken_in_any_case_and_a_wrong_one_names_the_choices():
    from convae.params import choice
    parse = choice("cosine", "constant")
    assert parse(" Cosine ") == "cosine" and parse("constant") == "constant"
    with pytest.raises(ValueError) as info:
        parse("linear")
    assert str(info.value) == "expected one of cosine, constant, got 'linear'"


def test_integer_parsers_accept_their_bounds_and_refuse_past_them():
    parse = integer(1, 6)
    assert (parse("1"), parse(" 6 ")) == (1, 6)
    for text, words in (("0", "expected an integer from 1 to 6, got 0"), ("7", "got 7"), ("x", "got 'x'")):
        with pytest.raises(ValueError, match=words):
            parse(text)
    with pytest.raises(ValueError, match="expected an integer >= 1, got 0"):
        integer(1)("0")
    assert integer(1)("100000") == 100000
    as_list = integer_list(1, 512)
    assert as_list("32,64") == as_list("32 64") == as_list(" 32, 64 ") == [32, 64]
    assert as_list("512") == [512]
    for text, words in (("", "expected a comma-separated list of integers from 1 to 512, got ''"),
                        (",", "got ','"), ("32,513", "got 513"), ("0", "got 0")):
        with pytest.raises(ValueError, match=words):
            as_list(text)
    views = integer_choice(1, 5, 9)
    assert (views("1"), views(" 9 ")) == (1, 9)
    for text, words in (("3", "expected 1, 5 or 9, got 3$"), ("x", "got 'x'$")):
        with pytest.raises(ValueError, match=words):
            views(text)


def test_real_parsers_accept_their_bounds_and_say_which_they_refuse():
    half_open, closed = real(0, 1), real(0.01, 0.9, hi_inclusive=True)
    assert (half_open("0"), half_open(" 0.5 "), closed("0.01"), closed("0.9")) == (0, 0.5, 0.01, 0.9)
    for parse, text, message in (
            (half_open, "1", "expected a number from 0 to 1 (not 1 itself), got 1"),
            (half_open, "-0.1", "expected a number from 0 to 1 (not 1 itself), got -0.1"),
            (half_open, "x", "expected a number from 0 to 1 (not 1 itself), got 'x'"),
            (closed, "0.95", "expected a number from 0.01 to 0.9, got 0.95"),
            (closed, "0.005", "expected a number from 0.01 to 0.9, got 0.005")):
        with pytest.raises(ValueError) as refused:
            parse(text)
        assert str(refused.value) == message


def test_a_default_may_depend_on_the_values_resolved_before_it():
    assert FILTERS.default_for({"layers": 3}) == [8, 8, 8] and LAYERS.default_for({}) == 3


LAYERS = Param("layers", integer(1, 6), 3, "layers", "Layers")
FILTERS = Param("filters", integer_list(1, 512), lambda v: [8] * v["layers"], "filters", "Filters",
                fit=lambda value, v: value * v["layers"] if len(value) == 1 else value)


def test_resolve_asks_only_what_the_flags_left_open():
    p, out = prompter("2\n8\n")  # a second answer waits, for a Filters prompt that must not come
    values = resolve([LAYERS, FILTERS], {"filters": [16]}, p, {})
    assert values == {"layers": 2, "filters": [16, 16]}
    assert "Filters" not in out.getvalue()


def test_resolve_offers_the_previous_values_as_defaults():
    p, out = prompter("\n\n")
    assert resolve([LAYERS, FILTERS], {}, p, {}, previous={"layers": 2, "filters": [4, 5]}) == \
        {"layers": 2, "filters": [4, 5]}
    assert "Layers [2]" in out.getvalue() and "Filters [4,5]" in out.getvalue()


def test_en_dash_flags_are_accepted():
    options = {"-d", "-model", "--no-input", "--epochs"}
    assert normalize_argv(["\u2013d", "x", "\u2013model", "m.h5", "\u2013no-input", "\u2013\u2013epochs=3", "-d"],
                          options) == ["-d", "x", "-model", "m.h5", "--no-input", "--epochs=3", "-d"]


def test_help_documents_every_flag_with_its_default(tmp_path):
    result = run("autoencoder.py", ["--help"], cwd=tmp_path)
    assert result.returncode == 0
    shown = " ".join(result.stdout.split())
    for flag in ("-d PATH", "--layers", "--kernel", "--filters", "--epochs", "--batch-size", "--dropout",
                 "--val-split", "--seed", "--limit", "--output-dir", "--save", "--no-input"):
        assert flag in result.stdout, flag
    assert "images per training step (default: 64)" in shown and "(default: 0.2)" in shown
    result = run("classification.py", ["--help"], cwd=tmp_path)
    for flag in ("-dl PATH", "-t PATH", "-tl PATH", "-model PATH", "--fc-units", "--fine-tune-epochs", "--resume"):
        assert flag in result.stdout, flag
    groups = [line for line in result.stdout.splitlines() if line and not line.startswith(" ") and line.endswith(":")]
    assert groups == ["options:", "data files (asked for when missing):",
                      "the assignment's hyperparameters (asked for before each experiment unless given here):",
                      "network and training:", "augmentation (random, in training only):", "run settings:"]
    shown = " ".join(result.stdout.split())
    assert "restore its best weights (0: off; it cuts a cosine schedule short) (default: 0)" in shown
    assert "Adam's learning rate in stage 2 (the whole network) (default: 0.002)" in shown
    assert "--tta {1,5,9}" in result.stdout and "its JSON records N (default: 9)" in shown
    assert "--elastic" not in result.stdout and "--label-smoothing" not in result.stdout
    assert "--weight-decay" not in result.stdout and "--average-epochs" not in result.stdout


RECORD_WINDOWS = """
import matplotlib.pyplot as plt
def show(*args, **kwargs):
    print("A WINDOW WAS OPENED", flush=True)
plt.show = show
"""


def test_no_show_opens_no_window_where_a_display_exists(tmp_path):
    env = dict(env_with(tmp_path, RECORD_WINDOWS), DISPLAY=":0", MPLBACKEND="Agg")  # Agg: nothing real opens
    result = subprocess.run([sys.executable, os.path.join(REPO, "autoencoder.py"), "-d", TRAIN_IMAGES, "--no-input",
                             *TINY_AE, "--output-dir", "out", "--no-show", "--verbose"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr
    assert "A WINDOW WAS OPENED" not in result.stdout
    # --verbose lets the backend's messages through (the unattended runs of test_autoencoder and
    # test_classification assert that nothing comes through without it)
    assert result.stderr.strip() != ""
    assert (tmp_path / "out" / "experiment-1-loss.png").stat().st_size > 0


def test_figures_are_shown_only_where_a_display_exists(tmp_path, monkeypatch):
    from convae import plots
    shown = []
    monkeypatch.setattr(plots.sys, "platform", "linux")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setattr(plots._pyplot(), "show", lambda *a, **k: shown.append(1))
    monkeypatch.setattr(plots._pyplot(), "pause", lambda *a, **k: None)
    for display, expected in ((None, []), (":0", [1])):
        if display:
            monkeypatch.setenv("DISPLAY", display)
        else:
            monkeypatch.delenv("DISPLAY", raising=False)
            monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
        plots.history({"loss": [0.3, 0.2]}, str(tmp_path / "loss.png"), "title", ["loss"],
                      show=plots.use_windows(True))
        assert shown == expected, display
    plots.history({"loss": [0.3, 0.2]}, str(tmp_path / "loss.png"), "title", ["loss"], show=plots.use_windows(False))
    assert shown == [1]  # --no-show


def test_bad_flag_value_is_a_usage_error(tmp_path):
    result = run("autoencoder.py", ["-d", TRAIN_IMAGES, "--epochs", "zero", "--no-input"], cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == "error: argument --epochs: expected an integer from 1 to 10000, got 'zero' "\
                            "(see autoencoder.py --help)\n"
    assert "Traceback" not in result.stderr
    result = run("classification.py", ["--tta", "3", "--no-input"], cwd=tmp_path)
    assert (result.returncode, result.stderr) == (2, "error: argument --tta: expected 1, 5 or 9, got 3 "
                                                     "(see classification.py --help)\n")


def test_missing_path_with_no_input(tmp_path):
    assert_clean_error(run("autoencoder.py", ["--no-input"], cwd=tmp_path), "training images", "-d")


def test_missing_path_is_asked_until_a_file_parses(tmp_path):
    (tmp_path / "notes.txt").write_text("not images\n")
    answers = f"{tmp_path / 'nothing.gz'}\n{tmp_path / 'notes.txt'}\n{TRAIN_IMAGES}\n"
    result = run("autoencoder.py", ["--layers", "1"], cwd=tmp_path, stdin=answers)
    assert "nothing.gz: no such file" in result.stdout
    assert "notes.txt: is a text file, not an idx file" in result.stdout
    assert "4000 images of 28x28" in result.stdout
    assert_clean_error(result, "end of input")  # the answers end at the next prompt


def test_en_dash_on_the_command_line(tmp_path):
    result = run("autoencoder.py", ["\u2013d", str(tmp_path / "missing.gz"), "\u2013\u2013no-input"], cwd=tmp_path)
    assert_clean_error(result, "missing.gz: no such file")


# Each flag's accepted range as README and --help state it: (lowest, highest, highest accepted itself)
RANGES = {
    "limit": (1, None, None), "val_split": (0.01, 0.9, True), "seed": (0, None, None), "layers": (1, 6, True),
    "kernel": (1, 15, True), "filters": (1, 1024, True), "pooling": (1, 6, True), "epochs": (1, 10000, True),
    "batch_size": (1, 65536, True), "dropout": (0, 1, False), "fc_units": (1, 65536, True),
    "fine_tune_epochs": (0, 10000, True), "patience": (0, 10000, True), "encoder_dropout": (0, 1, False),
    "learning_rate": (1e-6, 1, False), "fine_tune_learning_rate": (1e-7, 1, False), "shift": (0, 0.5, True),
    "rotation": (0, 180, True), "zoom": (0, 0.5, True)}


def readme_flags():
    """README's flag tables: {script: {flag: (asked, default, metavar)}}, "both" for the table of both scripts."""
    tables, section = {}, None
    for line in open(os.path.join(REPO, "README.md"), encoding="utf-8"):
        if line.startswith("## "):
            section = {"## `autoencoder.py`": "autoencoder", "## `classification.py`": "classification",
                       "## Flags of both scripts": "both"}.get(line.strip())
        elif section and line.startswith("| `"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            flags = [f.split() for f in cells[0].replace("`", "").split(", ")]  # [flag] or [flag, METAVAR]
            asked, default = ("", cells[1]) if section == "both" else (cells[1], cells[2])
            defaults = default.split(", ") if len(flags) > 1 else [default]
            for (flag, *metavar), value in zip(flags, defaults):
                tables.setdefault(section, {})[flag] = (asked, value, " ".join(metavar))
    return tables


@pytest.mark.parametrize("script", ["autoencoder", "classification"])
def test_every_flag_has_the_default_range_and_question_that_readme_and_help_give(script, capsys):
    from convae.definitions import of
    definition = of(script + ".py")
    tables = readme_flags()
    for p in definition.params:
        asked, default, _ = tables[script].get(p.flag) or tables["both"][p.flag]
        assert asked == ("yes" if p.prompt else ""), p.flag
        if " / " in default:  # --val-split: one default per script
            default = default.split(" / ")[script == "classification"]
        value = p.shown_default or show(p.default)
        assert value == default or value.startswith(default + ",") or default.startswith(value + " ("), p.flag
        if p.name in RANGES:
            low, high, inclusive = RANGES[p.name]
            below = low - (1 if isinstance(low, int) else low / 10 if low else 0.01)
            first = p.parse(str(low))
            assert (first[0] if isinstance(first, list) else first) == low, p.flag
            with pytest.raises(ValueError, match="expected"):
                p.parse(str(below))
            if high is not None:
                if inclusive:
                    p.parse(str(high))
                else:
                    with pytest.raises(ValueError, match=r"\(not .* itself\)"):
                        p.parse(str(high))
                with pytest.raises(ValueError, match="expected"):
                    p.parse(str(high * 1.5 if isinstance(high, float) else high + 1))
    with pytest.raises(SystemExit):
        definition.parse_args(["--help"])
    shown = " ".join(capsys.readouterr().out.split())
    for p in definition.params:
        value = p.shown_default or show(p.default)
        metavar = (tables[script].get(p.flag) or tables["both"][p.flag])[2]  # as README writes the flag
        assert f"{p.flag} {metavar}" in shown and f"(default: {value})" in shown, p.flag
