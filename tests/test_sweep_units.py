"""The pure parts of sweeps, in process: seeds, dimensions, URLs, the report's statistics."""
import numpy as np
import pytest

from convae.errors import UserError
from convae.sweep.spec import Dimension, Spec, flag_text, parse_dimension, parse_seeds
from convae.sweep.study import masked


def params():
    from convae.definitions import of
    return of("autoencoder.py").params


@pytest.mark.parametrize("text, seeds", [("1", (1,)), ("1-3", (1, 2, 3)), ("0,2,5", (0, 2, 5)),
                                         ("1-3,7", (1, 2, 3, 7)), ("2,2,1", (2, 1)), (" 4 - 5 ", (4, 5))])
def test_seeds_are_ranges_or_lists(text, seeds):
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize("text, words", [("3-1", "the range ends before it begins"), ("a", "expected seeds"),
                                         ("", "expected seeds"), ("-1", "expected seeds"), ("1-x", "expected seeds")])
def test_bad_seeds_are_refused(text, words):
    with pytest.raises(UserError, match=words):
        parse_seeds(text)


def test_a_grid_takes_the_values_the_script_takes_and_lists_by_semicolons():
    d = parse_dimension("grid", "batch-size=32,64,64", params())
    assert d == Dimension("batch_size", "grid", ("32", "64"), numbers=(32, 64))  # stored as numbers
    assert d.stored("64") == 64 and d.text(64) == "64" and d.text(64.0) == "64"
    assert parse_dimension("grid", "--dropout=0,0.2", params()).values == ("0", "0.2")
    assert parse_dimension("grid", "filters=16,32;8,16", params()).values == ("16,32", "8,16")
    assert d.flag == "--batch-size" and d.describe() == "--batch-size in {32; 64}"


@pytest.mark.parametrize("kind, text, message", [
    ("grid", "batch-size", "--grid batch-size: expected NAME=VALUES, for example --grid batch-size=32,64"),
    ("search", "dropout", "--search dropout: expected NAME=VALUES, for example --search learning-rate=1e-4:1e-2:log"),
    ("grid", "dropout=0,1", "--grid dropout: expected a number from 0 to 1 (not 1 itself), got 1"),
    ("grid", "dropout= , ", "--grid dropout: no values"),
    ("search", "dropout=0.1", "--search dropout=0.1: expected LOW:HIGH or LOW:HIGH:log"),
    ("search", "dropout=0.1:0.2:ln", "--search dropout=0.1:0.2:ln: expected LOW:HIGH or LOW:HIGH:log"),
    ("search", "dropout=0.2:0.2", "--search dropout=0.2:0.2: the range is upside down or empty (0.2 is not below 0.2)"),
    ("search", "dropout=0:0.5:log", "--search dropout=0:0.5:log: a log scale needs a range above 0"),
    ("search", "filters=4:8", "--search filters: only a number can be searched; give its values with --grid"),
    ("search", "epochs=0:3", "--search epochs: expected an integer from 1 to 10000, got 0"),
    ("search", "dropout=0.1=0.2:0.3", "--search dropout: expected a number from 0 to 1 (not 1 itself), got '0.1=0.2'")])
def test_bad_dimensions_are_refused_in_one_line_that_says_why(kind, text, message):
    with pytest.raises(UserError) as refused:
        parse_dimension(kind, text, params())
    assert str(refused.value) == message


@pytest.mark.parametrize("text", ["seed=1,2", "save=a.h5", "--no-input=1", "output-dir=a"])
def test_a_flag_the_sweep_sets_itself_is_refused_with_the_names_it_can_vary(text):
    with pytest.raises(UserError) as refused:
        parse_dimension("grid", text, params())
    name = text.split("=")[0]
    allowed = "limit, val-split, layers, kernel, filters, pooling, epochs, batch-size, dropout"
    assert str(refused.value) == f"--grid {name}: not a flag the sweep can vary; the script's are: {allowed}"


def test_a_search_range_keeps_its_scale_and_kind():
    d = parse_dimension("search", "epochs=1:5", params())
    assert d == Dimension("epochs", "search", low=1.0, high=5.0, log=False, integer=True)
    d = parse_dimension("search", "dropout=0.01:0.5:log", params())
    assert d == Dimension("dropout", "search", low=0.01, high=0.5, log=True, integer=False)
    assert flag_text(d, 0.25) == "0.25" and flag_text(parse_dimension("search", "epochs=1:5", params()), 3.0) == "3"


def test_a_spec_counts_its_trials_and_reads_back_from_json():
    grid = Dimension("dropout", "grid", ("0", "0.2", "0.4"))
    search = Dimension("learning_rate", "search", low=1e-4, high=1e-2, log=True)
    spec = Spec("classification.py", ("-d", "x"), (grid, search), (1, 2), 5)
    assert spec.total() == 3 * 5 * 2
    assert Spec("autoencoder.py", (), (grid,), (1, 2), 1).total() == 6
    assert Spec.from_json(spec.to_json()) == spec


@pytest.mark.parametrize("url, shown", [
    ("postgresql://me:secret@host:5432/db", "postgresql://me:***@host:5432/db"),
    ("postgresql://me@host/db", "postgresql://me@host/db"),
    ("postgresql://me:p@ss@host/db", "postgresql://me:***@host/db"), ("sqlite:////tmp/a.db", "sqlite:////tmp/a.db"),
    ("postgresql://me:a://b@host/db", "postgresql://me:***@host/db")])
def test_a_password_never_shows(url, shown):
    assert masked(url) == shown


def test_the_summary_ranks_configurations_and_pairs_them_over_their_common_seeds():
    from scipy import stats
    from convae.sweep.report import summarise
    spec = Spec("autoencoder.py", (), (Dimension("dropout", "grid", ("0", "0.2", "0.4")),), (1, 2, 3), 1)
    values = {"0": [0.30, 0.32, 0.31], "0.2": [0.20, 0.24, 0.22], "0.4": [0.25, 0.27]}
    rows = [{"dropout": d, "seed": s, "status": "complete", "val_loss": v, "minutes": 1.0}
            for d, losses in values.items() for s, v in zip((1, 2, 3), losses)]
    rows.append({"dropout": "0.4", "seed": 3, "status": "failed", "val_loss": None, "minutes": None})
    table = summarise(spec, rows, "val_loss", higher_is_better=False)
    assert [dict(c["key"])["dropout"] for c in table] == ["0.2", "0.4", "0"]
    best, second, worst = table
    assert best["n"] == 3 and best["mean"] == pytest.approx(0.22) and best["sd"] == pytest.approx(0.02)
    assert (best["min"], best["max"]) == (0.20, 0.24)
    assert second["n"] == 2 and second["paired"] == 2  # seed 3 failed: paired over seeds 1 and 2 only
    assert second["difference"] == pytest.approx(np.mean([0.05, 0.03]))
    assert second["p"] == pytest.approx(stats.ttest_rel([0.25, 0.27], [0.20, 0.24]).pvalue)
    assert worst["p"] == pytest.approx(stats.ttest_rel(values["0"], values["0.2"]).pvalue)
    higher = summarise(spec, rows, "val_loss", higher_is_better=True)
    assert [dict(c["key"])["dropout"] for c in higher] == ["0", "0.4", "0.2"]


@pytest.mark.parametrize("text, seeds", [("3-3", (3,)), ("1 - 2, 5", (1, 2, 5))])
def test_a_range_of_one_seed_and_spaces_anywhere_are_taken(text, seeds):
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize("text, message", [
    ("3-1", "--seeds 3-1: 3-1: the range ends before it begins"),
    ("1,a", "--seeds 1,a: expected seeds such as 1-3 or 1,2,5"),
    ("-2", "--seeds -2: expected seeds of 0 or more, such as 1-3 or 1,2,5")])
def test_bad_seeds_say_why_in_one_line(text, message):
    with pytest.raises(UserError) as e:
        parse_seeds(text)
    assert str(e.value) == message


def test_lists_of_integers_are_gridded_by_semicolons_whatever_the_flag():
    for name in ("kernel", "filters", "pooling"):
        assert parse_dimension("grid", f"{name}=3,3;2,2", params()).values == ("3,3", "2,2"), name
    assert parse_dimension("grid", "epochs=1,2", params()).values == ("1", "2")  # not a list: commas
    from convae.params import Param, integer_list
    fresh = [Param("kernel", integer_list(1, 15), [3], "")]  # made here, not at the script's import
    assert parse_dimension("grid", "kernel=3,3;2", fresh).values == ("3,3", "2")


def test_a_dimension_describes_itself_as_the_summary_prints_it():
    assert Dimension("dropout", "search", low=0.0, high=0.5).describe() == "--dropout from 0 to 0.5"
    assert (Dimension("learning_rate", "search", low=1e-4, high=1e-2, log=True).describe()
            == "--learning-rate from 0.0001 to 0.01 (log scale)")
    assert Dimension("dropout", "grid", ("0", "0.2")).describe() == "--dropout in {0; 0.2}"


def test_a_value_is_written_as_its_flag_takes_it():
    grid = Dimension("epochs", "grid", ("1", "2"))
    assert flag_text(grid, "2") == "2" and flag_text(grid, 2) == "2"
    rate = Dimension("learning_rate", "search", low=1e-4, high=1e-2, log=True)
    assert flag_text(rate, 0.001) == "0.001" and flag_text(rate, "1e-3") == "1e-3"
    assert flag_text(Dimension("epochs", "search", low=1, high=5, integer=True), 3.0) == "3"


def test_a_spec_keeps_tensorboard_off_and_reads_older_records_as_on():
    spec = Spec("autoencoder.py", (), (), (1, 2, 3), 1, tensorboard=False)
    assert spec.total() == 3  # seeds only: one configuration
    assert Spec.from_json(spec.to_json()) == spec and not Spec.from_json(spec.to_json()).tensorboard
    record = spec.to_json()
    del record["tensorboard"]  # written before --no-tensorboard existed
    assert Spec.from_json(record).tensorboard is True
    search = Dimension("dropout", "search", low=0.0, high=0.5)
    assert Spec("autoencoder.py", (), (search,), (1, 2), 4).total() == 8
    assert Spec("autoencoder.py", (), (Dimension("dropout", "grid", ("0", "0.2")),), (1, 2), 4).total() == 4


def test_the_summary_of_one_seed_has_no_spread_and_no_test():
    from convae.sweep.report import configurations, summarise
    spec = Spec("autoencoder.py", (), (Dimension("dropout", "grid", ("0", "0.2", "0.4")),), (1, 2), 1)
    rows = [{"dropout": "0", "seed": 1, "status": "complete", "val_loss": 0.3, "minutes": 2.0},
            {"dropout": "0", "seed": 2, "status": "complete", "val_loss": 0.4, "minutes": 4.0},
            {"dropout": "0.2", "seed": 1, "status": "complete", "val_loss": 0.5, "minutes": None},
            {"dropout": "0.4", "seed": 2, "status": "complete", "val_loss": 0.6, "minutes": 1.0},
            {"dropout": "0.4", "seed": 1, "status": "running", "val_loss": 0.1, "minutes": None}]
    assert [dict(k)["dropout"] for k, _ in configurations(spec, rows, "val_loss")] == ["0", "0.2", "0.4"]
    best, one, other = summarise(spec, rows, "val_loss", higher_is_better=False)
    assert best["sd"] == pytest.approx(np.std([0.3, 0.4], ddof=1)) and best["minutes"] == 3.0
    assert one["n"] == 1 and one["sd"] is None and one["minutes"] is None  # not measured: not 0
    assert (one["paired"], one["difference"], one["p"]) == (1, pytest.approx(0.2), None)  # one seed: no test
    assert (other["paired"], other["p"]) == (1, None) and other["difference"] == pytest.approx(0.2)
    alone = {"dropout": "0.2", "seed": 3, "status": "complete", "val_loss": 0.1, "minutes": 1.0}
    best, rest = summarise(spec, [rows[0], alone], "val_loss", higher_is_better=False)
    assert (rest["paired"], rest["difference"], rest["p"]) == (0, None, None)  # no seed in common


@pytest.mark.parametrize("script, extra, message", [
    ("autoencoder.py", {"grid": ["dropout=0,0.2"], "prune": True}, "--prune stops a --search's hopeless trials"),
    ("autoencoder.py", {"search": ["dropout=0:0.5"], "prune": True, "against": "minutes"},
     "--prune with --against: Optuna prunes single-objective studies only"),
    ("autoencoder.py", {"against": "val_loss"}, "--against val_loss: expected one of minutes, parameters"),
    ("autoencoder.py", {"autoencoder": "--epochs 1"}, "--autoencoder trains each trial's own autoencoder for its "
                                                      "classifier: it needs classification.py"),
    ("classification.py", {"autoencoder": "--epochs 1", "model": True}, "leave -model out"),
    ("classification.py", {"autoencoder": "-d x.gz --epochs 1"}, "--autoencoder: leave -d out"),
    ("classification.py", {"autoencoder": "--epochs 1 --seed 3"}, "--autoencoder: --seed is the sweep's to set"),
    ("classification.py", {"autoencoder": "--epochs 1 --precision float32"}, "--precision holds for both stages"),
    ("classification.py", {"autoencoder": "--epochs 'one"}, "--autoencoder \"--epochs 'one\": No closing quotation"),
])
def test_combinations_that_make_no_sense_are_refused_in_one_line(script, extra, message):
    from convae.definitions import of
    from convae.sweep.spec import build
    fixed = ["-model", "ae.h5"] if extra.pop("model", False) else []
    with pytest.raises(UserError) as refused:
        build(of(script), fixed, **extra)
    assert message in str(refused.value) and "\n" not in str(refused.value)


def test_a_spec_of_its_own_autoencoders_pruning_and_second_objective_reads_back():
    from convae.definitions import of
    from convae.sweep.spec import build
    spec, _ = build(of("classification.py"), ["--epochs", "1"], search=["dropout=0:0.5"], seeds="1-2",
                    autoencoder="--epochs 2 --filters '4,8'", prune=True)
    assert spec.autoencoder == ("--epochs", "2", "--filters", "4,8") and spec.prune and spec.against == ""
    assert Spec.from_json(spec.to_json()) == spec
    other, _ = build(of("autoencoder.py"), [], grid=["epochs=1,2"], against="minutes")
    assert other.objectives == ("best", "minutes") and Spec.from_json(other.to_json()) == other
    # a sweep.json written before these existed reads as none of them
    old = {k: v for k, v in other.to_json().items() if k not in ("autoencoder", "prune", "against")}
    old["dimensions"] = [{k: v for k, v in d.items() if k != "numbers"} for d in old["dimensions"]]
    read = Spec.from_json(old)
    assert (read.autoencoder, read.prune, read.against, read.dimensions[0].numbers) == ((), False, "", ())


def test_the_pareto_front_keeps_the_configurations_nothing_beats_on_both():
    from convae.sweep.report import pareto_front
    table = [{"key": (("e", k),), "mean": m, "minutes": t} for k, m, t in
             [("a", 0.99, 10.0), ("b", 0.98, 4.0), ("c", 0.97, 5.0), ("d", 0.95, 1.0), ("e", 0.98, 4.0)]]
    front = pareto_front(table, "minutes", higher_is_better=True)
    assert [dict(c["key"])["e"] for c in front] == ["d", "b", "e", "a"]  # c is beaten by b on both; cheapest first
    lower = pareto_front(table, "minutes", higher_is_better=False)  # a loss: lower is better
    assert [dict(c["key"])["e"] for c in lower] == ["d"]


def test_the_sweeps_figures_order_numbers_as_numbers_and_pair_training_with_validation_by_colour(monkeypatch,
                                                                                                  tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.axes
    from matplotlib.colors import to_hex
    from convae import plots
    legends = []
    original = matplotlib.axes.Axes.legend

    def record(self, *args, **kwargs):
        made = original(self, *args, **kwargs)
        legends.append([(text.get_text(), to_hex(line.get_color()) if hasattr(line, "get_color") else None)
                        for text, line in zip(made.get_texts(), made.legend_handles)])
        return made
    monkeypatch.setattr(matplotlib.axes.Axes, "legend", record)
    dims = (Dimension("dropout", "grid", ("0", "0.2"), numbers=(0.0, 0.2)),
            Dimension("batch_size", "grid", ("128", "32"), numbers=(128, 32)))
    table = []
    for i, (drop, batch, loss) in enumerate([("0", "32", 0.5), ("0.2", "128", 0.3), ("0.2", "32", 0.4),
                                             ("0", "128", 0.6)]):
        row = {"loss": loss + 0.1, "val_loss": loss}
        table.append({"key": (("dropout", drop), ("batch_size", batch)), "mean": loss, "by_seed": {1: row}})
    table.sort(key=lambda c: c["mean"])
    curves = [(c["key"], {"loss": [1.0, c["mean"] + 0.1], "val_loss": [0.9, c["mean"]]}) for c in reversed(table)]
    curves.append(((("dropout", "0.5"), ("batch_size", "64")), {"loss": [2.0], "val_loss": [1.9]}, True))
    plots.sweep(str(tmp_path), dims, table, curves, "val_loss",
                lambda key: ", ".join(f"{k} {v}" for k, v in key))
    against_dropout = legends[1]  # the legend as it ends, after the training's and then the validation's lines
    labels = [label for label, _ in against_dropout]
    assert labels == ["training, batch-size 32", "training, batch-size 128", "validation, batch-size 32",
                      "validation, batch-size 128"]  # 32 before 128
    colour = dict(against_dropout)
    assert colour["training, batch-size 32"] == colour["validation, batch-size 32"]
    assert colour["training, batch-size 32"] != colour["training, batch-size 128"]
    curves_legend = [label for label, _ in legends[-1]]
    assert curves_legend == ["dropout 0.2, batch_size 128", "dropout 0.2, batch_size 32", "dropout 0, batch_size 32",
                             "dropout 0, batch_size 128", "pruned (1 trials)"]  # best first, as the table
