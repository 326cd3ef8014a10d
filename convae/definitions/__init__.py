"""The experiments the scripts run, each defined once (experiment.Definition): autoencoder.py's and
classification.py's. The scripts, a sweep's trials and the benchmarks take them from here."""
SCRIPTS = ("autoencoder.py", "classification.py")


def of(script):
    """The definition of `script`'s experiments ("autoencoder.py" or "classification.py")."""
    if script == "autoencoder.py":
        from convae.definitions.autoencoder import DEFINITION
    elif script == "classification.py":
        from convae.definitions.classification import DEFINITION
    else:
        raise ValueError(f"{script}: expected one of {', '.join(SCRIPTS)}")
    return DEFINITION
