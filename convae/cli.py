"""Command-line plumbing shared by both scripts: flags, prompts for what they left open, exit codes."""
import argparse
import os
import sys

from convae.errors import EndOfInput, UserError
from convae.params import Param, integer, show

_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2212"  # hyphen, dashes and minus that PDFs print for "-"


def normalize_argv(argv, options=()):
    """Turn the en dashes (and similar) that PDFs print in front of flags into plain dashes.

    Typesetting turns "--" into one en dash, so "\u2013no-input" is read as "--no-input" when
    that, and not "-no-input", is one of `options`.
    """
    fixed = []
    for arg in argv:
        stripped = arg.lstrip("-" + _DASHES)
        lead = arg[:len(arg) - len(stripped)]
        if not lead or lead.strip("-") == "":
            fixed.append(arg)
            continue
        name = stripped.split("=", 1)[0]
        dashes = "-" * len(lead)
        if dashes + name not in options and "--" + name in options:
            dashes = "--"
        fixed.append(dashes + stripped)
    return fixed


class Parser(argparse.ArgumentParser):
    """argparse's parser with one-line errors and the list of its flags (for normalize_argv)."""

    flags = ("-h", "--help")

    def error(self, message):
        """One line, like every other error of these programs, instead of argparse's usage block."""
        print(f"error: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


_STEPS = Param("steps_per_dispatch", integer(1, 100000), None, "")
ASKED = "the assignment's hyperparameters (asked for before each experiment unless given here)"
TRAINING = "network and training"
AUGMENTATION = "augmentation (random, in training only)"
RUN = "run settings"


def make_parser(prog, description, paths, params, options=()):
    """An argparse parser: the data paths, then one flag per Param in its group, then the run options.

    `options` are extra run settings as (flag, metavar, help) triples.
    """
    parser = Parser(prog=prog, description=description, allow_abbrev=False,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    flags = list(parser.flags)

    def add(group, flag, **options):
        flags.append(flag)
        group.add_argument(flag, **options)
    files = parser.add_argument_group("data files (asked for when missing)")
    for flag, dest, help_text in paths:
        add(files, flag, dest=dest, metavar="PATH", help=help_text)
    groups = {}
    for title in [ASKED, TRAINING, AUGMENTATION, RUN]:
        if title == RUN or any((ASKED if p.prompt else p.group or RUN) == title for p in params):
            groups[title] = parser.add_argument_group(title)
    for p in params:
        default = p.shown_default or ("depends on other values" if callable(p.default) else
                                      show(p.default) if p.default is not None else "none")
        add(groups[ASKED if p.prompt else p.group or RUN], p.flag, dest=p.name, type=argparse_type(p),
            metavar=p.metavar or p.name.upper(), help=f"{p.help} (default: {default})")
    run = groups[RUN]
    for flag, metavar, help_text in options:
        add(run, flag, metavar=metavar, help=help_text)
    add(run, "--overwrite", action="store_true",
        help="with --no-input, let --save replace an existing file (asked at the prompt otherwise)")
    add(run, "--resume", action="store_true",
        help="continue the experiment that a killed run of the same command left in --output-dir, from its last "
             "finished epoch (a checkpoint is written there after every epoch)")
    add(run, "--steps-per-dispatch", type=argparse_type(_STEPS), metavar="N",
        help="training steps run by one compiled call (default: 32 under JAX on a GPU, else 1; see docs/speed.md)")
    add(run, "--precision", choices=("auto", "float32", "bfloat16"), default="auto",
        help="the convolutions' arithmetic: bfloat16 rounds their inputs and weights to 8 bits of mantissa (sums "
             "in float32) and runs them on the AMX units of CPUs that have them (Intel Xeon since Sapphire Rapids), "
             "about twice as fast there; auto: bfloat16 on such a CPU under TensorFlow, float32 elsewhere "
             "(default: auto; docs/speed.md)")
    add(run, "--distribute", action="store_true",
        help="train on every device of the machine, each batch split between them (JAX only)")
    add(run, "--tensorboard", action="store_true",
        help="write each experiment's per-epoch figures for TensorBoard into --output-dir's tensorboard/ "
             "(tensorboard --logdir DIR/tensorboard)")
    add(run, "--no-input", action="store_true",
        help="never prompt: missing paths are an error, missing values take their defaults")
    add(run, "--no-show", action="store_true",
        help="never open plot windows, even where a display exists (PNG files are always written)")
    add(run, "--verbose", action="store_true", help="show TensorFlow's own log messages and warnings")
    parser.flags = tuple(flags)
    return parser


def parse_args(parser, argv):
    """parser.parse_args after `normalize_argv`."""
    args = parser.parse_args(normalize_argv(argv, parser.flags))
    if args.resume and not args.output_dir:
        parser.error("--resume needs the --output-dir of the run it continues")
    return args


def check_save_flag(args):
    """--save's path, checked before the files are read, the backend imported and hours spent
    training: writable, and under --no-input not another file unless --overwrite."""
    from convae.records import check_save_path
    if args.save:
        check_save_path(args.save, overwrite=args.overwrite or not args.no_input)


def argparse_type(param):
    def convert(text):
        try:
            return param.parse(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    convert.__name__ = param.name
    return convert


def resolve(params, given, prompter, context, previous=None):
    """Return a dict with one value per Param.

    Values given as flags are checked and used, for every experiment of the run. The others are
    asked for (those with a prompt) with the previous experiment's value, or else the default, in
    brackets, and otherwise take the default. `context` holds facts about the data (image size,
    number of images) that some checks need. On a repeat (`previous` given), a flag that no
    longer fits the answers (--filters 4,8 after answering 1 layer) is asked for instead. Without a
    `prompter` (None) nothing is asked.
    """
    asking = prompter is not None and prompter.enabled
    values = dict(context)
    for p in params:
        label = p.prompt
        if given.get(p.name) is not None:
            try:
                values[p.name] = p.resolve(given[p.name], values)
                continue
            except ValueError as e:
                if previous is None or not asking:
                    raise UserError(f"{p.flag}: {e}") from None
                print(f"  {p.flag} {show(given[p.name])} does not fit this experiment: {e}")
                label = label or p.flag
        default = _fitting(p, (previous or {}).get(p.name), values)
        if default is None:
            default = _fitting(p, p.default_for(values), values)
        if label and asking:
            values[p.name] = prompter.ask(label, lambda text, p=p: p.resolve(p.parse(text), values), default)
        elif default is not None or p.default_for(values) is None:
            values[p.name] = default
        else:
            raise UserError(f"{p.flag}: the default {show(p.default_for(values))} does not fit: "
                            f"{_why(p, p.default_for(values), values)}")
    return {p.name: values[p.name] for p in params}


def _fitting(param, value, values):
    """`value` resolved against `values`, or None where it does not fit."""
    if value is None:
        return None
    try:
        return param.resolve(value, values)
    except ValueError:
        return None


def _why(param, value, values):
    try:
        param.resolve(value, values)
    except ValueError as e:
        return str(e)
    return ""


def ask_file(prompter, label, given, load, flag):
    """Load the file given by `flag`, or ask for a path until one loads.

    A bad path given as a flag is an error with --no-input; otherwise the reason is shown and
    the path asked for again.
    """
    if given:
        try:
            return load(given)
        except (ValueError, OSError, UserError) as e:
            if not prompter.enabled:
                raise UserError(str(e)) from None
            print(f"  {e}", flush=True)

    def parse(path):
        try:
            return load(os.path.expanduser(path))
        except (OSError, UserError) as e:
            raise ValueError(str(e)) from None
    return prompter.ask(label, parse, flag=flag)


def run(main):
    """Call `main()` and exit with its status; user errors end in one line, not a traceback."""
    try:
        status = main()
    except EndOfInput as e:
        print(f"error: {e}", file=sys.stderr)
        status = 1
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        status = 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        status = 130
    sys.exit(status)
