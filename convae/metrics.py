"""Classification figures from predictions: pure functions over numpy arrays."""
import numpy as np


def evaluate(y_true, probabilities):
    """Accuracy, loss, macro precision/recall/F1, per-class figures and the confusion matrix."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support
    y_true = np.asarray(y_true).astype(np.int64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    classes = probabilities.shape[1]
    y_pred = probabilities.argmax(axis=1)
    labels = list(range(classes))
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    macro = precision_recall_fscore_support(y_true, y_pred, labels=labels, average="macro", zero_division=0)
    picked = np.clip(probabilities[np.arange(len(y_true)), y_true], 1e-7, 1.0)
    return {
        "accuracy": float(np.mean(y_pred == y_true)),
        "loss": float(-np.mean(np.log(picked))),
        "correct": int(np.sum(y_pred == y_true)),
        "errors": int(np.sum(y_pred != y_true)),
        "precision": float(macro[0]), "recall": float(macro[1]), "f1": float(macro[2]),
        "per_class": {str(c): {"precision": float(precision[c]), "recall": float(recall[c]), "f1": float(f1[c]),
                               "support": int(support[c])} for c in labels},
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }
