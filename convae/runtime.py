"""How a run executes, as opposed to what it trains: one object made in main() from the flags and passed down."""
import dataclasses
from typing import Optional


@dataclasses.dataclass(frozen=True)
class Runtime:
    steps_per_dispatch: Optional[int] = None  # training steps per compiled call; None: dispatch.default_steps()
    devices: int = 1                          # devices each batch is split between (--distribute)
    show: bool = False                        # figures also open in windows
    verbose: bool = False                     # the backend's own log messages and warnings get through
    tensorboard: bool = False                 # per-epoch figures also written for TensorBoard
    precision: str = "float32"                # the convolutions': float32, bfloat16, or auto (--precision)

    @classmethod
    def from_flags(cls, args):
        """From the flags both scripts share: --steps-per-dispatch, --distribute, --no-show, --verbose,
        --tensorboard, --precision."""
        from convae import devices, plots
        count = devices.distribute(args.verbose) if args.distribute else 1
        if args.distribute:
            print(f"--distribute: training on {count} device{'s' if count > 1 else ''}, each batch split between them")
        return cls(steps_per_dispatch=args.steps_per_dispatch, devices=count,
                   show=plots.use_windows(not args.no_show), verbose=args.verbose, tensorboard=args.tensorboard,
                   precision=args.precision)

    def convolutions(self):
        """The dtype the convolutions run in: `precision`, auto resolved for this machine (bfloat16
        where TensorFlow runs them with oneDNN on a CPU with AMX, float32 elsewhere)."""
        if self.precision != "auto":
            return self.precision
        from convae import devices
        return "bfloat16" if devices.cpu_has_fast_bfloat16() else "float32"
