"""A sweep's K best classifiers (by validation accuracy) scoring the test set together: their
probabilities averaged, against the single best and each alone."""
import json
import os

import numpy as np

from convae.files import write_text_atomic
from convae.sweep.study import status_of, trial_folder, trials_of


def score(folder, spec, study, k, definition):
    """Score the ensemble, write ensemble.json in `folder`, and return a paragraph for summary.md."""
    from convae import data, devices, metrics
    from convae.backend import keras
    from convae.networks import averaged_over_shifts
    complete = [t for t in trials_of(study) if status_of(t) == "complete"]
    ranked = sorted(complete, key=lambda t: -t.user_attrs["metrics"]["val_accuracy"])
    here = [t for t in ranked if os.path.exists(os.path.join(trial_folder(folder, t), "model.h5"))]
    chosen = here[:k]
    if not chosen:
        return f"No model of a complete trial is in {folder} (trials run on other machines keep theirs there)."
    flags = definition.parse_args(list(spec.fixed) + ["--no-input"])
    images, labels = data.load_images(flags.test_images), data.load_labels(flags.test_labels)
    x, y = data.to_float(images.array), labels.array
    singles, probabilities, wrong = [], [], []
    for trial in chosen:
        path = os.path.join(trial_folder(folder, trial), "model.h5")
        with open(os.path.splitext(path)[0] + ".json") as f:
            views = json.load(f)["settings"]["tta"]
        model = keras().models.load_model(path, compile=False)
        p = devices.predict(averaged_over_shifts(model, views), x)
        probabilities.append(p)
        wrong.append(p.argmax(axis=1) != y)
        singles.append({"trial": trial.user_attrs["folder"],
                        "val_accuracy": trial.user_attrs["metrics"]["val_accuracy"],
                        "views": views, "test_errors": metrics.evaluate(y, p)["errors"]})
    averaged = np.mean(probabilities, axis=0)
    together = metrics.evaluate(y, averaged)
    errors = [s["test_errors"] for s in singles]
    ensemble_wrong = averaged.argmax(axis=1) != y
    only_best, only_ensemble = int((wrong[0] & ~ensemble_wrong).sum()), int((ensemble_wrong & ~wrong[0]).sum())
    against_best = {"only_the_best_wrong": only_best, "only_the_ensemble_wrong": only_ensemble,
                    "mcnemar_p": metrics.mcnemar_p(only_best, only_ensemble)}
    shared = metrics.shared_errors(wrong)
    record = {"k": len(chosen), "members": singles, "ensemble_test_errors": together["errors"],
              "ensemble_test_accuracy": together["accuracy"], "test_images": int(len(y)),
              "single_best_by_validation": singles[0], "against_the_best": against_best,
              "members_errors_shared": shared,
              "autoencoders": "one per member (--autoencoder)" if spec.autoencoder else "shared (-model)"}
    write_text_atomic(os.path.join(folder, "ensemble.json"), json.dumps(record, indent=2) + "\n")
    missing = f" ({len(ranked) - len(here)} of the complete trials' models are on other machines)" \
        if len(here) < len(ranked) else ""
    return (f"The {len(chosen)} best trials by validation accuracy ({', '.join(s['trial'] for s in singles)}), "
            f"each over its own test-time views, on the {len(y)} test images: the single best by validation made "
            f"{errors[0]} errors; alone they made {np.mean(errors):.1f} on average ({min(errors)} to {max(errors)}); "
            f"their probabilities averaged made **{together['errors']}** (accuracy {100 * together['accuracy']:.2f}%)"
            f"{missing}. Against the single best, paired image by image: {only_best} images only it got wrong, "
            f"{only_ensemble} only the ensemble (exact McNemar p = {against_best['mcnemar_p']:.3f}). The members' "
            f"mistakes: {shared['all']} images all of them got wrong, {shared['at_least_half']} at least half, "
            f"{shared['any']} any" + (f"; two members' mistakes overlap by {100 * shared['mean_pairwise_jaccard']:.0f}%"
                                      " on average (Jaccard)" if shared["mean_pairwise_jaccard"] is not None else "")
            + (". Each member trained its own autoencoder (--autoencoder)." if spec.autoencoder
               else ". The members share one autoencoder (-model).")
            + " Chosen on validation only; the test set was scored once, here (ensemble.json).")
