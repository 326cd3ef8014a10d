"""Classification figures from predictions: pure functions over numpy arrays."""
import numpy as np


def evaluate(y_true, probabilities):
    """Accuracy, loss, macro precision/recall/F1, per-class figures and the confusion matrix."""
    from sklearn.metrics import classification_report, confusion_matrix
    y_true = np.asarray(y_true).astype(np.int64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    labels = list(range(probabilities.shape[1]))
    y_pred = probabilities.argmax(axis=1)
    report = classification_report(y_true, y_pred, labels=labels, output_dict=True, zero_division=0)
    picked = np.clip(probabilities[np.arange(len(y_true)), y_true], 1e-7, 1.0)
    return {
        "accuracy": float(np.mean(y_pred == y_true)),
        "loss": float(-np.mean(np.log(picked))),
        "correct": int(np.sum(y_pred == y_true)),
        "errors": int(np.sum(y_pred != y_true)),
        "precision": report["macro avg"]["precision"], "recall": report["macro avg"]["recall"],
        "f1": report["macro avg"]["f1-score"],
        "per_class": {str(c): {"precision": report[str(c)]["precision"], "recall": report[str(c)]["recall"],
                               "f1": report[str(c)]["f1-score"], "support": int(report[str(c)]["support"])}
                      for c in labels},
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


def text_report(y_true, predicted, classes):
    """scikit-learn's per-class precision, recall and F1 as text."""
    from sklearn.metrics import classification_report
    return classification_report(y_true, predicted, labels=list(range(classes)), digits=4, zero_division=0)


def principal_components(features, components=2):
    """Feature vectors (one row per image) projected on their first principal components."""
    from sklearn.decomposition import PCA
    return PCA(n_components=components, random_state=0).fit_transform(np.reshape(features, (len(features), -1)))


def mcnemar_p(only_first, only_second):
    """Exact two-sided McNemar p-value for images that only one of two models got wrong.

    Under the hypothesis that both models are equally good, each such image is equally likely to
    be either model's miss: a binomial with n = only_first + only_second and p = 1/2.
    """
    from scipy.stats import binomtest
    n = only_first + only_second
    return 1.0 if n == 0 else float(binomtest(only_first, n, 0.5).pvalue)


def shared_errors(wrong):
    """What several models' mistakes share. `wrong`: one boolean array per model (True where it erred).
    Returns how many images all of them got wrong, how many at least half, how many any, and the mean
    Jaccard overlap of two models' sets of mistakes."""
    wrong = np.asarray(wrong, dtype=bool)
    counts = wrong.sum(axis=0)
    pairs = [(a, b) for a in range(len(wrong)) for b in range(a + 1, len(wrong))]
    overlaps = [float((wrong[a] & wrong[b]).sum() / max((wrong[a] | wrong[b]).sum(), 1)) for a, b in pairs]
    return {"all": int((counts == len(wrong)).sum()), "at_least_half": int((2 * counts >= len(wrong)).sum()),
            "any": int((counts > 0).sum()), "mean_pairwise_jaccard": float(np.mean(overlaps)) if overlaps else None}

