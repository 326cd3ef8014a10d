"""Sweeps: many experiments of one script over hyperparameters x seeds, as trials of an Optuna study.

    spec       what a sweep runs: the script, its fixed flags, the dimensions, the seeds
    study      the Optuna study and its storage: queueing, requeueing, reading the trials back
    objective  one trial = one experiment (experiment.unattended), in its own folder
    workers    the processes that run the trials, and the supervisor that starts them
    report     results.csv and summary.md: configurations over seeds, paired comparisons
    ensemble   the K best classifiers' probabilities averaged on the test set

sweep.py (the command) holds the command line; the figures are plots.sweep's.
"""
