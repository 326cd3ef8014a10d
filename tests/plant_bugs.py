"""Plant realistic bugs, one at a time, in a copy of the project, and check that the test named for
each catches it.

usage: python tests/plant_bugs.py [--only WORDS ...] [--jobs N] [--check]
       python tests/plant_bugs.py [--only WORDS ...] --together-at REV | --alone-at REV TEST ...
       (by hand, not in CI; the times and results are in tests/README.md)

For every bug below: copy the tracked files into a temporary folder, make one edit (the text it
replaces must occur exactly once), run the one test that promises to catch it, and report
"caught" only when that test fails on an assertion. Anything else is not a catch: the test
passing ("SURVIVED"), an exception in the test or a fixture, or a copy that does not import
("CRASHED"), running past the time limit ("TIMEOUT"); a survivor means a test is missing or too weak:
strengthen the tests, not this list. Every promise in tests/README.md has at least one bug here.
`--check` only checks that every text to replace occurs once. Exit status 1 unless all are caught.
"""
import argparse
import concurrent.futures
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT = 600

# name: (file, text, replacement, the test that must catch it)
BUGS = {
    # the classifier learns, each stage compiled as asked
    "labels shifted by one image": (
        "convae/definitions/classification.py", "(pixels[train_idx], labels[train_idx])", "(pixels[train_idx], np.roll(labels, 1)[train_idx])",
        "tests/test_learning.py::test_the_classifier_learns_on_a_stratified_split_with_each_stage_compiled_as_asked"),
    "stage 2 compiled with stage 1's learning rate": (
        "convae/classifier.py", 'run_stage(2, hyper["fine_tune_epochs"], hyper["fine_tune_learning_rate"])',
        'run_stage(2, hyper["fine_tune_epochs"], hyper["learning_rate"])',
        "tests/test_learning.py::test_the_classifier_learns_on_a_stratified_split_with_each_stage_compiled_as_asked"),
    "test-time augmentation averaging only the unshifted image": (
        "convae/networks.py", "    for dy, dx in SHIFTS[:views]:", "    for dy, dx in SHIFTS[:1]:",
        "tests/test_learning.py::test_the_classifier_learns_on_a_stratified_split_with_each_stage_compiled_as_asked"),
    "the test set classified by the network alone whatever --tta says": (
        "convae/classifier.py", "devices.predict(averaged_over_shifts(model, views), images, runtime.devices)",
        "devices.predict(model, images, runtime.devices)",
        "tests/test_learning.py::test_the_classifier_learns_on_a_stratified_split_with_each_stage_compiled_as_asked"),
    "validation.py predicting with the network alone whatever the JSON records": (
        "benchmarks/validation.py", 'views = args.tta or record["tta"]', "views = args.tta or 1",
        "tests/test_benchmarks.py::test_two_classifiers_are_compared_image_by_image"),
    "accuracy.sh's recipe still on the previous recipe's dropout": (
        "benchmarks/accuracy.sh", "CLASSIFIER=(--dropout 0.2 --encoder-dropout 0 --epochs 1",
        "CLASSIFIER=(--dropout 0.3 --encoder-dropout 0.25 --epochs 1",
        "tests/test_benchmarks.py::test_the_recipe_script_runs_both_scripts_with_its_settings"),
    "accuracy.sh's LIMIT reaching the autoencoder only": (
        "benchmarks/accuracy.sh", '    CLASSIFIER+=(--limit "$LIMIT")\n', "",
        "tests/test_benchmarks.py::test_the_recipe_script_runs_both_scripts_with_its_settings"),
    "no recompile after unfreezing the encoder": (
        "convae/classifier.py", "        compile_classifier(model, learning_rate, epochs * steps if",
        "        if stage == 1:\n            compile_classifier(model, learning_rate, epochs * steps if",
        "tests/test_classification.py::test_stage_1_trains_only_the_head_and_stage_2_keeps_batch_statistics"),
    "the encoder's features not standardised": (
        "convae/definitions/classification.py", "features=classifier.feature_statistics(encoder, train_set[0],\n"
        "                                                                    device_count=runtime.devices))",
        "features=None)",
        "tests/test_learning.py::test_keras2_encoders_learn[autoencoder_dropout.h5]"),
    # BatchNormalization and the other layers
    "BatchNormalization momentum ignored (a fixed factor of 0.1)": (
        "convae/layers.py", "share = (1.0 - self.momentum) / (1.0 - ops.power(self.momentum, updates))", "share = 0.1",
        "tests/test_layers.py::test_moving_statistics_are_the_bias_corrected_average_of_the_batches[True]"),
    "BatchNormalization without the bias correction (Keras's own lag)": (
        "convae/layers.py", "share = (1.0 - self.momentum) / (1.0 - ops.power(self.momentum, updates))",
        "share = 1.0 - self.momentum",
        "tests/test_layers.py::test_moving_statistics_are_the_bias_corrected_average_of_the_batches[True]"),
    "the autoencoder's statistics left to the moving averages": (
        "convae/definitions/autoencoder.py", "statistics_from=train_images[:training.statistics_images(len(train_images))])",
        "statistics_from=None)", "tests/test_autoencoder.py::test_inference_mode_is_the_network_that_trained"),
    "statistics of the pass's last batch only": (
        "convae/training.py",
        "mean, square = mean.astype(np.float64).mean(axis=0), square.astype(np.float64).mean(axis=0)",
        "mean, square = mean[-1].astype(np.float64), square[-1].astype(np.float64)",
        "tests/test_autoencoder.py::test_inference_mode_is_the_network_that_trained"),
    "BatchNormalization trainable in stage 2": (
        "convae/classifier.py", 'layer.trainable = batch_norm == "trained"', "layer.trainable = True",
        "tests/test_classification.py::test_stage_1_trains_only_the_head_and_stage_2_keeps_batch_statistics"),
    "encoder dropout acting in stage 1": (
        "convae/classifier.py", "    encoder.trainable = False\n    for layer in dropout_layers(encoder):\n"
        "        layer.rate = 0.0\n", "    encoder.trainable = False\n",
        "tests/test_classification.py::test_encoder_dropout_acts_in_stage_2_only"),
    "augmentation in inference too": (
        "convae/layers.py", "        if not training:\n            return inputs",
        "        if False:\n            return inputs",
        "tests/test_layers.py::test_random_affine_moves_digits_in_training_only_and_within_its_ranges"),
    "saved files hold the project's own layers": (
        "convae/records.py", "standard_layers(model).save(tmp)", "model.save(tmp)",
        "tests/test_layers.py::test_saved_models_hold_only_stock_keras_layers"),
    # data, splits, input pipelines
    "the script's split not stratified": (
        "convae/definitions/classification.py", 'settings["seed"], labels)', 'settings["seed"])',
        "tests/test_learning.py::test_the_classifier_learns_on_a_stratified_split_with_each_stage_compiled_as_asked"),
    "validation images also trained on": (
        "convae/data.py", "return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))",
        "return np.arange(len(labels)), np.sort(np.concatenate(val))",
        "tests/test_data.py::test_the_split_is_a_partition_that_keeps_every_class_share"),
    "test images used for validation": (
        "convae/definitions/classification.py", "(pixels[val_idx], labels[val_idx])",
        "(data.to_float(inputs.test_images.array[:len(val_idx)]), inputs.test_labels.array[:len(val_idx)])",
        "tests/test_learning.py::test_the_classifier_learns_on_a_stratified_split_with_each_stage_compiled_as_asked"),
    "the batch size checked against an unstratified split": (
        "convae/data.py", '    if value > values["n_train"]:',
        '    if value > (values["limit"] or values["n_images"]) - round(0.1 * (values["limit"] or values["n_images"])):',
        "tests/test_bad_input.py::test_the_batch_size_is_checked_against_the_split_that_training_uses"),
    "every epoch in the same order": (
        "convae/batching.py", "return np.random.default_rng([seed, epoch]).permutation(count)",
        "return np.random.default_rng(seed).permutation(count)",
        "tests/test_data.py::test_each_epoch_has_its_own_order_drawn_from_the_seed_and_the_epoch_alone"),
    "the NumPy pipeline shuffling labels apart from their images": (
        "convae/batching.py", "            yield inputs, (inputs if same else y[batch])",
        "            yield inputs, (inputs if same else y[np.random.permutation(batch)])",
        "tests/test_jax_training.py::test_both_scripts_run_under_jax_and_their_models_predict_the_same_under_tensorflow"),
    "the magic number not checked": (
        "convae/idx.py", "    if found != magic:", "    if found not in (IMAGES_MAGIC, LABELS_MAGIC):",
        "tests/test_idx.py::test_images_given_as_labels"),
    "trailing bytes accepted": (
        "convae/idx.py", "    if payload > size:", "    if False:",
        "tests/test_bad_input.py::test_autoencoder_refuses[trailing bytes]"),
    "no seed for the weights": (
        "convae/experiment.py", '    seed_everything(config.seed)\n', "",
        "tests/test_learning.py::test_the_same_seed_repeats_an_experiment_exactly"),
    # the encoder, Keras 2 files
    "the encoder cut one layer short": (
        "convae/encoder.py", "        last = named[0]", "        last = named[0] - 1",
        "tests/test_classification.py::test_own_model_encoder_is_taken_by_the_bottleneck"),
    "the classifier's encoder not given the autoencoder's weights": (
        "convae/classifier.py", "    copy_weights(encoder, copy)\n", "",
        "tests/test_classification.py::test_each_experiment_starts_from_the_autoencoders_weights"),
    "Keras 2's nested models not renumbered": (
        "convae/encoder.py", "            ref[1] -= 1", "            pass",
        "tests/test_keras2.py::test_keras3_rebuilds_the_keras2_network_and_finds_its_encoder[nested_functional.h5]"),
    # flags, prompts, exit codes
    "a flag that loses to its prompt": (
        "convae/cli.py", "        if given.get(p.name) is not None:",
        "        if given.get(p.name) is not None and not prompter.enabled:",
        "tests/test_prompts.py::test_resolve_asks_only_what_the_flags_left_open"),
    "early stopping on by default": (
        "convae/definitions/classification.py", 'Param("patience", integer(0, 10000), 0,', 'Param("patience", integer(0, 10000), 5,',
        "tests/test_prompts.py::test_help_documents_every_flag_with_its_default"),
    "--save checked only after training": (
        "convae/runner.py", "    cli.check_save_flag(args)\n", "",
        "tests/test_bad_input.py::test_autoencoder_refuses[save into a missing folder]"),
    "exit status 1 for Ctrl-C at a prompt": (
        "convae/cli.py", "        status = 130", "        status = 1",
        "tests/test_terminal.py::test_ctrl_c_at_a_prompt_exits_130"),
    "exit status 1 for a bad flag value": (
        "convae/cli.py", "        sys.exit(2)", "        sys.exit(1)",
        "tests/test_prompts.py::test_bad_flag_value_is_a_usage_error"),
    "exit status 2 for a bad file": (
        "convae/cli.py", "    except UserError as e:\n        print(f\"error: {e}\", file=sys.stderr)\n        status = 1",
        "    except UserError as e:\n        print(f\"error: {e}\", file=sys.stderr)\n        status = 2",
        "tests/test_bad_input.py::test_autoencoder_refuses[missing file]"),
    "--no-show ignored": (
        "convae/plots.py", "    if requested and has_display:", "    if has_display:",
        "tests/test_prompts.py::test_no_show_opens_no_window_where_a_display_exists"),
    "oneDNN left to TensorFlow's default": (
        "convae/backend.py", 'CPU_SETTINGS = {"TF_ENABLE_ONEDNN_OPTS": "1"}', "CPU_SETTINGS = {}",
        "tests/test_internals.py::test_onednn_follows_the_project_default_and_the_users_setting"),
    "the user's oneDNN setting overridden": (
        "convae/backend.py", "        os.environ.setdefault(variable, value)", "        os.environ[variable] = value",
        "tests/test_internals.py::test_onednn_follows_the_project_default_and_the_users_setting"),
    # the session: figures, best experiment, saving, exit
    "every experiment's figure under one name": (
        "convae/definitions/autoencoder.py", 'setup.path(f"experiment-{n}-loss.png")', 'setup.path("experiment-loss.png")',
        "tests/test_autoencoder.py::test_scripted_session_repeat_plots_save_exit"),
    "classify defaults to the worst experiment": (
        "convae/session.py", "pick = max if self.higher_is_better else min",
        "pick = min if self.higher_is_better else max",
        "tests/test_records.py::test_the_best_experiment_is_the_highest_accuracy_or_the_lowest_loss[accuracy-middle]"),
    "exit without a word about the unsaved experiments": (
        "convae/session.py", "        unsaved = self.unsaved()\n        if not unsaved:",
        "        unsaved = self.unsaved()\n        if True:",
        "tests/test_records.py::test_exit_asks_about_the_last_and_the_best_where_not_saved"),
    "a failed save that loses the experiments": (
        "convae/session.py", "            if not ask:\n                raise  # unattended",
        "            if True:\n                raise  # unattended",
        "tests/test_bad_input.py::test_a_failed_interactive_save_keeps_the_experiments_and_the_earlier_file"),
    "a model written in place, not atomically": (
        "convae/records.py", "        with atomic_path(path) as tmp:\n            standard_layers(model).save(tmp)",
        "        if True:\n            standard_layers(model).save(path)",
        "tests/test_autoencoder.py::test_a_save_that_fails_half_way_keeps_the_earlier_file"),
    # Ctrl-C, checkpoints and --resume
    "Ctrl-C ignored during training": (
        "convae/training.py", "            if self.requested:\n                raise KeyboardInterrupt",
        "            if self.requested:\n                pass",
        "tests/test_terminal.py::test_autoencoder_session_with_ctrl_c_in_training_and_ctrl_d_at_the_menu"),
    "a checkpoint restored without the optimizer's state": (
        "convae/checkpoint.py", '    kinds = ("model", "optimizer") if any(', '    kinds = ("model",) if any(',
        "tests/test_resume.py::test_a_killed_autoencoder_resumes_with_the_same_losses_and_model"),
    "a checkpoint that forgets the stage": (
        "convae/checkpoint.py", "for field in dataclasses.fields(cls) if field.name in record})",
        'for field in dataclasses.fields(cls) if field.name in record and field.name != "stage"})',
        "tests/test_resume.py::test_a_classifier_killed_in_stage_2_resumes_with_the_same_losses"),
    "--resume with other hyperparameters accepted": (
        "convae/checkpoint.py", '("settings", "other settings"),\n                      ("hyperparameters", "other '
        'hyperparameters")):', '("settings", "other settings")):',
        "tests/test_resume.py::test_a_wrong_resume_is_one_line_and_changes_nothing[change1-words1]"),
    # JAX: blocks of steps, several devices
    "a block of steps that skips its last step": (
        "convae/dispatch.py", "jax.lax.fori_loop(0, real, step, (state, logs))",
        "jax.lax.fori_loop(0, real - 1, step, (state, logs))",
        "tests/test_jax_training.py::test_a_block_of_steps_trains_as_the_steps_one_at_a_time"),
    "a block of steps that feeds one step's images another's targets": (
        "convae/dispatch.py", "            return x_all[indices[i]], y_all[indices[i]]",
        "            return x_all[indices[i]], y_all[indices[(i + 1) % len(indices)]]",
        "tests/test_jax_training.py::test_a_block_of_steps_trains_as_the_steps_one_at_a_time"),
    "--distribute predictions that keep the padding": (
        "convae/devices.py",
        "return [p[:len(x)] for p in predicted] if isinstance(predicted, list) else predicted[:len(x)]",
        "return predicted",
        "tests/test_jax_training.py::test_distribute_splits_odd_batches_between_two_devices"),
}


# Subtler slips (issue "Tests that catch subtle slips"), each planted, in its form of the time (OLD_FORMS), in
# 7c0d6a0, before the tests that catch them now (`--together-at 7c0d6a0`, then `--alone-at`): which of them
# that revision's suite missed, and which it caught too, is in tests/README.md.
NEW_BUGS = {
    # every flag by its effect, in the unit its help states
    "rotation drawn in half the degrees asked": (
        "convae/layers.py", "angle = uniform(self.rotation * math.pi / 180.0)",
        "angle = uniform(self.rotation * math.pi / 360.0)",
        "E::test_rotation_turns_images_by_up_to_the_degrees_asked"),
    "rotation taken in radians": (
        "convae/layers.py", "angle = uniform(self.rotation * math.pi / 180.0)", "angle = uniform(self.rotation)",
        "E::test_rotation_turns_images_by_up_to_the_degrees_asked"),
    "shift as a fraction of half the image": (
        "convae/layers.py", "dx, dy = uniform(self.shift) * width, uniform(self.shift) * height",
        "dx, dy = uniform(self.shift) * width / 2, uniform(self.shift) * height / 2",
        "E::test_shift_moves_images_by_up_to_the_fraction_of_their_size_asked"),
    "zoom range halved": (
        "convae/layers.py", "scale = 1.0 + uniform(self.zoom)", "scale = 1.0 + uniform(self.zoom / 2)",
        "E::test_zoom_scales_images_by_up_to_the_fraction_asked"),
    "zoom only ever shrinking the digit": (
        "convae/layers.py", "scale = 1.0 + uniform(self.zoom)", "scale = 1.0 + ops.abs(uniform(self.zoom))",
        "E::test_zoom_scales_images_by_up_to_the_fraction_asked"),
    "--tta 5 taking a diagonal for its fifth view": (
        "convae/networks.py", "SHIFTS = [(0, 0), (-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1),",
        "SHIFTS = [(0, 0), (-1, 0), (1, 0), (0, -1), (-1, -1), (0, 1),",
        "E::test_tta_averages_exactly_the_documented_views[5]"),
    "--tta views cropped on the side they were padded (no shift at all)": (
        "convae/networks.py", "Cropping2D(((max(-dy, 0), max(dy, 0)), (max(-dx, 0), max(dx, 0))), name=name)",
        "Cropping2D(((max(dy, 0), max(-dy, 0)), (max(dx, 0), max(-dx, 0))), name=name)",
        "E::test_tta_averages_exactly_the_documented_views[9]"),
    "stage 2's cosine as long as stage 1's": (
        "convae/classifier.py", "compile_classifier(model, learning_rate, epochs * steps if",
        "compile_classifier(model, learning_rate, hyper[\"epochs\"] * steps if",
        "E::test_each_stage_applies_its_learning_rate_along_its_schedule_in_steps[cosine]"),
    "the decay counting the partial batch as a step": (
        "convae/classifier.py", "steps = batching.steps_per_epoch(len(x), hyper[\"batch_size\"], runtime.devices)",
        "steps = -(-len(x) // hyper[\"batch_size\"])",
        "E::test_each_stage_applies_its_learning_rate_along_its_schedule_in_steps[cosine]"),
    "--schedule constant still decaying": (
        "convae/classifier.py", "epochs * steps if hyper[\"schedule\"] == \"cosine\" else None",
        "epochs * steps if hyper[\"schedule\"] else None",
        "E::test_each_stage_applies_its_learning_rate_along_its_schedule_in_steps[constant]"),
    # sizes past every boundary
    "feature statistics of the last chunk only": (
        "convae/classifier.py",
        "total, squares = total + features.sum(axis=0), squares + (features ** 2).sum(axis=0)",
        "total, squares = features.sum(axis=0), (features ** 2).sum(axis=0)",
        "E::test_feature_statistics_over_several_chunks_and_a_partial_one"),
    "feature statistics without the last, partial chunk": (
        "convae/classifier.py", "for start in range(0, len(images), chunk):",
        "for start in range(0, len(images) - chunk + 1, chunk):",
        "E::test_feature_statistics_over_several_chunks_and_a_partial_one"),
    "the partial batch trained on": (
        "convae/batching.py", ".batch(batch_size, drop_remainder=True))", ".batch(batch_size, drop_remainder=False))",
        "E::test_training_batches_visit_each_epochs_order_in_full_batches_from_any_epoch"),
    "the NumPy pipeline dropping a full last batch": (
        "convae/batching.py", "range(0, len(order) - batch_size + 1, batch_size)",
        "range(0, len(order) - batch_size, batch_size)",
        "E::test_training_batches_visit_each_epochs_order_in_full_batches_from_any_epoch"),
    "a resumed run's epochs ordered as from epoch 0": (
        "convae/batching.py", "for e in range(first_epoch, epochs)]", "for e in range(epochs - first_epoch)]",
        "E::test_training_batches_visit_each_epochs_order_in_full_batches_from_any_epoch"),
    "a short block of steps padded with trained steps": (
        "convae/batching.py", "yield block, np.int32(real)", "yield block, np.int32(steps)",
        "E::test_blocks_of_steps_cover_each_epoch_with_a_short_last_block"),
    "validation dropping its last, partial batch": (
        "convae/batching.py", "Dataset.range(len(x)).batch(batch_size)",
        "Dataset.range(len(x)).batch(batch_size, drop_remainder=True)",
        "E::test_validation_batches_cover_every_image_once_with_a_partial_last_batch"),
    # resume, fully
    "the optimizer's moments not restored": (
        "convae/checkpoint.py",
        "kinds = (\"model\", \"optimizer\") if any(name.startswith(\"optimizer/\") for name in arrays) else "
        "(\"model\",)",
        "kinds = (\"model\",)",
        "E::test_a_training_resumed_from_any_checkpoint_continues_exactly_in_every_part_of_its_state"),
    "random generators left out of the checkpoint": (
        "convae/checkpoint.py", "for variable in inner.variables:", "for variable in inner.weights:",
        "E::test_a_training_resumed_from_any_checkpoint_continues_exactly_in_every_part_of_its_state"),
    "early stopping's best weights dropped on resume": (
        "convae/checkpoint.py", "stopper.restore(state.early_stopping, best)",
        "stopper.restore(state.early_stopping, None)",
        "E::test_a_training_resumed_from_any_checkpoint_continues_exactly_in_every_part_of_its_state"),
    "early stopping's patience counter restarted on resume": (
        "convae/training.py", "self.wait, self.best, self.best_epoch = state[\"wait\"], state[\"best\"]",
        "self.wait, self.best, self.best_epoch = 0, state[\"best\"]",
        "E::test_a_training_resumed_from_any_checkpoint_continues_exactly_in_every_part_of_its_state"),
    # records by value
    "the checksum of the compressed file, not of its content": (
        "convae/idx.py", "    return _parse(path, data, magic), md5_hex(data)",
        "    with open(path, \"rb\") as f:\n        raw = f.read()\n    return _parse(path, data, magic), md5_hex(raw)",
        "tests/test_learning.py::test_the_records_hold_the_values_used_and_measured"),
    "minutes recorded in seconds": (
        "convae/session.py", "minutes=e.seconds / 60,", "minutes=e.seconds,",
        "tests/test_autoencoder.py::test_unattended_run_writes_everything"),
    "parameters counting BatchNormalization's step counts": (
        "convae/networks.py", "for w in model.weights if not (w.name == \"updates\" and len(w.shape) == 0)))",
        "for w in model.weights))", "tests/test_learning.py::test_the_records_hold_the_values_used_and_measured"),
    "the views' validation accuracy taken from the network alone": (
        "convae/definitions/classification.py", "devices.predict(averaged_over_shifts(model, views), validation[0],",
        "devices.predict(model, validation[0],",
        "tests/test_learning.py::test_the_records_hold_the_values_used_and_measured"),
    "the training loss recorded as the validation loss": (
        "convae/definitions/classification.py", "\"val_loss\": val[\"loss\"],", "\"val_loss\": fit[\"loss\"],",
        "tests/test_learning.py::test_the_records_hold_the_values_used_and_measured"),
    # added after their tests (2026-12-05), of the same kinds, where fewer than 20 above were missed at 7c0d6a0
    "every augmentation drawn one way only": (
        "convae/layers.py", "_keras.random.uniform((batch,), -limit, limit, seed=self.seed_generator)",
        "_keras.random.uniform((batch,), 0.0, limit, seed=self.seed_generator)",
        "E::test_rotation_turns_images_by_up_to_the_degrees_asked"),
    "feature variances about zero, not about their mean": (
        "convae/classifier.py", "variance = np.maximum(squares / len(images) - mean ** 2, 0.0)",
        "variance = squares / len(images)", "E::test_feature_statistics_over_several_chunks_and_a_partial_one"),
    "the cosine ending at a tenth of the rate, not at zero": (
        "convae/networks.py", "learning_rate = k.optimizers.schedules.CosineDecay(learning_rate, decay_steps)",
        "learning_rate = k.optimizers.schedules.CosineDecay(learning_rate, decay_steps, alpha=0.1)",
        "E::test_each_stage_applies_its_learning_rate_along_its_schedule_in_steps[cosine]"),
    "the JSON's seed the default whatever --seed says": (
        "convae/definitions/classification.py",
        '"hyperparameters": experiment.hyper, "settings": experiment.settings, "status": experiment.status,\n'
        '            "validation"',
        '"hyperparameters": experiment.hyper, "settings": dict(experiment.settings, seed=1), '
        '"status": experiment.status,\n            "validation"',
        "tests/test_learning.py::test_the_records_hold_the_values_used_and_measured"),
    "the training accuracy recorded as the validation accuracy": (
        "convae/definitions/classification.py", 'scores = {"loss": fit["loss"], "accuracy": fit["accuracy"],',
        'scores = {"loss": fit["loss"], "accuracy": val["accuracy"],',
        "tests/test_learning.py::test_the_records_hold_the_values_used_and_measured"),
    # a reused folder, a later experiment (no such code at 7c0d6a0: the numbering is new)
    "a resumed experiment 2 losing experiment 1's row": (
        "convae/session.py", "self.earlier = records.read_rows(csv_path, params, below=resumed)", "self.earlier = []",
        "tests/test_resume.py::test_a_run_killed_in_its_second_experiment_resumes_it_and_keeps_the_first"),
    "a reused folder's rows dropped from experiments.csv": (
        "convae/session.py", "self.earlier = records.read_rows(csv_path, params)\n", "self.earlier = []\n",
        "tests/test_autoencoder.py::test_unattended_run_writes_everything"),
    "--save over another run's model without --overwrite": (
        "convae/cli.py", "check_save_path(args.save, overwrite=args.overwrite or not args.no_input)",
        "check_save_path(args.save)", "tests/test_autoencoder.py::test_unattended_run_writes_everything"),
    # a flag slipping on its way down the one call (tests/test_flags.py, in process)
    "the sweep's direction inverted": (
        "convae/experiment.py", 'return "maximize" if self.higher_is_better else "minimize"',
        'return "minimize" if self.higher_is_better else "maximize"',
        "F::test_a_sweep_hands_the_call_its_values_and_asks_optuna_the_definitions_direction"),
    "a trial's seed dropped": (
        "convae/sweep/objective.py", "given = dict(vars(self.fixed), seed=seed)", "given = dict(vars(self.fixed))",
        "F::test_a_sweep_hands_the_call_its_values_and_asks_optuna_the_definitions_direction"),
    "a sweep's fixed flags not handed to its trials": (
        "convae/sweep/objective.py", "given = dict(vars(self.fixed), seed=seed)", 'given = {"seed": seed}',
        "F::test_a_sweep_hands_the_call_its_values_and_asks_optuna_the_definitions_direction"),
    "a searched integer handed on as a float": (
        "convae/sweep/spec.py", "return int(raw) if dimension.integer else float(raw)", "return float(raw)",
        "F::test_a_sweep_hands_the_call_its_values_and_asks_optuna_the_definitions_direction"),
    "--encoder-dropout dropped in stage 2": (
        "convae/classifier.py", 'unfreeze_encoder(encoder, hyper["batch_norm"], hyper["encoder_dropout"])',
        'unfreeze_encoder(encoder, hyper["batch_norm"])', "F::test_every_classifier_flag_reaches_its_layer"),
    "--batch-norm dropped in stage 2": (
        "convae/classifier.py", 'unfreeze_encoder(encoder, hyper["batch_norm"], hyper["encoder_dropout"])',
        'unfreeze_encoder(encoder, "frozen", hyper["encoder_dropout"])',
        "F::test_every_classifier_flag_reaches_its_layer"),
    "--shift and --zoom swapped": (
        "convae/definitions/classification.py", 'augment=(hyper["shift"], hyper["rotation"], hyper["zoom"])',
        'augment=(hyper["zoom"], hyper["rotation"], hyper["shift"])',
        "F::test_every_classifier_flag_reaches_its_layer"),
    "--patience in stage 2 only": (
        "convae/classifier.py", 'stopper = training.early_stopping(hyper["patience"])',
        'stopper = training.early_stopping(hyper["patience"] if stage == 2 else 0)',
        "F::test_every_classifier_flag_reaches_its_layer"),
    "--val-split taken as the share kept": (
        "convae/definitions/autoencoder.py", 'settings["val_split"],\n                                  settings["seed"])',
        '1 - settings["val_split"],\n                                  settings["seed"])',
        "F::test_the_autoencoder_split_keeps_the_limit_and_holds_out_the_share_asked"),
    "the autoencoder's --kernel given as its --filters": (
        "convae/definitions/autoencoder.py", 'hyper["layers"], hyper["kernel"], hyper["filters"],',
        'hyper["layers"], hyper["filters"], hyper["filters"],',
        "F::test_every_autoencoder_flag_reaches_its_layer_the_split_and_the_epochs"),
    # sweeps against the faults of real machines (tests/test_sweep_faults.py, the real thing)
    "SIGTERM and SIGHUP left to kill the sweep": (
        "sweep.py", "signal.signal(signum, _stop)", "signal.signal(signum, signal.SIG_DFL)",
        "S::test_a_signal_stops_the_sweep_and_the_same_command_continues_it_without_an_output_dir[SIGTERM]"),
    "the default folder named anew each time": (
        "sweep.py", "json.dumps([spec.to_json(), study], sort_keys=True)",
        "json.dumps([spec.to_json(), study, os.getpid()], sort_keys=True)",
        "S::test_a_signal_stops_the_sweep_and_the_same_command_continues_it_without_an_output_dir[SIGTERM]"),
    "one HParams configuration per worker start": (
        "convae/sweep/objective.py", '    if glob.glob(os.path.join(folder, "events.out.tfevents.*")):\n        return\n',
        "", "S::test_a_signal_stops_the_sweep_and_the_same_command_continues_it_without_an_output_dir[SIGTERM]"),
    "a storage that stops answering not waited for": (
        "convae/sweep/study.py", "                if not storage_fault(e):\n                    raise\n                reason",
        "                raise\n                reason",
        "S::test_a_database_away_for_seconds_is_waited_for_and_nothing_runs_twice"),
    "a storage waited for without end": (
        "convae/sweep/study.py", "if now - since >= self.seconds:", "if now - since >= 100 * self.seconds:",
        "S::test_a_database_gone_for_good_stops_the_sweep_in_one_line"),
    "a full disk taken for the trial's own failure": (
        "convae/sweep/objective.py", "            fault = disk_fault(e)\n", "            fault = None\n",
        "S::test_a_full_disk_stops_the_sweep_in_one_line_and_the_same_command_continues[elsewhere]"),
    "workers started again without end": (
        "convae/sweep/workers.py", "if self.count[number] >= RESTARTS:", "if self.count[number] >= 10 ** 6:",
        "S::test_a_worker_killed_again_and_again_stops_the_sweep_with_how_it_ended"),
    "a result cut short taken for a failure": (
        "convae/sweep/objective.py", "            except (OSError, ValueError):  # edited or cut short by hand",
        "            except OSError:  # edited or cut short by hand",
        "S::test_a_result_edited_by_hand_runs_its_trial_again"),
    # search that spends where it pays (tests/test_sweep_search.py, tests/test_sweep_units.py, the dashboard's)
    "a pruned configuration's other seeds queued anyway": (
        "convae/sweep/objective.py", 'if first and not self.spec.prune and "retry_of" not in trial.user_attrs:',
        'if first and "retry_of" not in trial.user_attrs:',
        "Q::test_pruned_trials_stop_early_are_recorded_as_pruned_and_their_other_seeds_never_run"),
    "the pruner never asked": (
        "convae/sweep/objective.py", "if self.trial.should_prune():", "if False:",
        "Q::test_pruned_trials_stop_early_are_recorded_as_pruned_and_their_other_seeds_never_run"),
    "an epoch's report one step late": (
        "convae/sweep/objective.py", "self.trial.report(float(value), self.epoch)",
        "self.trial.report(float(value), self.epoch + 1)",
        "Q::test_pruned_trials_stop_early_are_recorded_as_pruned_and_their_other_seeds_never_run"),
    "pruned trials left out of the summary's count": (
        "convae/sweep/report.py", 'pruned = [r for r in rows if r["status"] == "pruned"]', "pruned = []",
        "Q::test_pruned_trials_stop_early_are_recorded_as_pruned_and_their_other_seeds_never_run"),
    "the second objective dropped": (
        "convae/sweep/objective.py",
        "return (best, float(result[self.spec.against])) if self.spec.against else best", "return best",
        "Q::test_a_second_objective_makes_a_multi_objective_study_and_a_pareto_front"),
    "the Pareto front keeping dominated configurations": (
        "convae/sweep/report.py",
        "front = [c for c in points if not any(dominates(o, c) for o in points if o is not c)]",
        "front = list(points)", "U::test_the_pareto_front_keeps_the_configurations_nothing_beats_on_both"),
    "the objectives left unnamed": (
        "convae/sweep/study.py", "        study.set_metric_names(objective_names(spec, definition))\n", "",
        "T::test_optunas_dashboard_serves_the_sweep_with_named_objectives_numbers_and_no_seed"),
    "the seed a parameter again": (
        "convae/sweep/objective.py", "        if seed is None:  # a sweep queued", "        if True:  # a sweep queued",
        "T::test_optunas_dashboard_serves_the_sweep_with_named_objectives_numbers_and_no_seed"),
    "a grid of numbers stored as text": (
        "convae/sweep/spec.py", "numbers=tuple(parsed) if numeric else ()", "numbers=()",
        "T::test_optunas_dashboard_serves_the_sweep_with_named_objectives_numbers_and_no_seed"),
    "a figure's legend sorted as text": (
        "convae/plots.py", "key=lambda item: tuple(_text_order(v) for _, v in item[0]))",
        "key=lambda item: item[0])",
        "U::test_the_sweeps_figures_order_numbers_as_numbers_and_pair_training_with_validation_by_colour"),
    "training and validation lines in two colours": (
        "convae/plots.py", "label=label,\n                    color=f\"C{index % 10}\")", "label=label)",
        "U::test_the_sweeps_figures_order_numbers_as_numbers_and_pair_training_with_validation_by_colour"),
    "every trial's own autoencoder trained with seed 1": (
        "convae/sweep/objective.py", "dict(vars(self.autoencoder_flags), seed=seed)",
        "dict(vars(self.autoencoder_flags), seed=1)",
        "Q::test_each_trial_trains_its_own_autoencoder_with_its_seed_as_autoencoder_py_would"),
    "a pipeline's minutes without its autoencoder's": (
        "convae/sweep/objective.py", '            result["minutes"] += autoencoder["minutes"]', "            pass",
        "Q::test_each_trial_trains_its_own_autoencoder_with_its_seed_as_autoencoder_py_would"),
    "a trial's figures titled Experiment 1": (
        "convae/sweep/objective.py", 'title=f"trial {os.path.basename(folder)}, seed {seed}")', "title=None)",
        "F::test_a_trials_figures_are_titled_by_its_trial_and_seed"),
    "McNemar's counts taken from the wrong model": (
        "convae/sweep/ensemble.py", "only_best, only_ensemble = int((wrong[0] & ~ensemble_wrong).sum())",
        "only_best, only_ensemble = int((wrong[-1] & ~ensemble_wrong).sum())",
        "Q::test_an_ensemble_of_independent_pipelines_says_what_it_gains_and_what_its_members_share"),
    # --precision: the convolutions in bfloat16 where asked, stock layers in saved files
    "bfloat16 convolutions computing on float32 kernels": (
        "convae/layers.py", 'ops.cast(inputs, "bfloat16"), ops.cast(kernel, "bfloat16"))',
        'ops.cast(inputs, "float32"), kernel)',
        "F::test_precision_bfloat16_reaches_every_block_convolution_and_saved_files_keep_stock_layers"),
    "--precision bfloat16 lost on the way to the autoencoder's blocks": (
        "convae/networks.py", 'conv = BFloat16Conv2D if convolutions == "bfloat16" else keras().layers.Conv2D',
        "conv = keras().layers.Conv2D",
        "F::test_precision_bfloat16_reaches_every_block_convolution_and_saved_files_keep_stock_layers"),
    "the classifier's encoder left in float32 under --precision bfloat16": (
        "convae/classifier.py", 'if convolutions == "bfloat16" and type(layer) is k.layers.Conv2D:',
        "if False:",
        "F::test_precision_bfloat16_reaches_every_block_convolution_and_saved_files_keep_stock_layers"),
    "the bfloat16 layer saved as itself": (
        "convae/layers.py", "             BFloat16Conv2D: _keras.layers.Conv2D.from_config,\n", "",
        "F::test_precision_bfloat16_reaches_every_block_convolution_and_saved_files_keep_stock_layers"),
    "a bfloat16 classifier scored in bfloat16, not as its saved file": (
        "convae/definitions/classification.py", "        model = classifier.float32_convolutions(model)\n", "        pass\n",
        "F::test_precision_bfloat16_reaches_every_block_convolution_and_saved_files_keep_stock_layers"),
    "claims.py's difference taken against the variant itself": (
        "benchmarks/claims.py", "    b = np.array([figure(ref[s]) for s in both])", "    b = a",
        "tests/test_benchmarks.py::test_claims_table_pairs_variants_by_seed_and_finds_where_a_curve_flattens"),
}
NEW_BUGS = {name: (file, text, replacement,
                   test.replace("E::", "tests/test_effects.py::").replace("F::", "tests/test_flags.py::")
                   .replace("S::", "tests/test_sweep_faults.py::").replace("Q::", "tests/test_sweep_search.py::")
                   .replace("U::", "tests/test_sweep_units.py::").replace("T::", "tests/test_sweep.py::"))
            for name, (file, text, replacement, test) in NEW_BUGS.items()}
BUGS.update(NEW_BUGS)

# The new bugs in 7c0d6a0's code, where it differs from today's (the same text where not listed).
OLD_FORMS = {
    "stage 2's cosine as long as stage 1's": (
        "convae/classifier.py", "compile_classifier(model, learning_rate, decay(epochs))",
        "compile_classifier(model, learning_rate, decay(hyper[\"epochs\"]))"),
    "the decay counting the partial batch as a step": (
        "convae/classifier.py", "steps = training.steps_per_epoch(len(x), hyper[\"batch_size\"])",
        "steps = -(-len(x) // hyper[\"batch_size\"])"),
    "--schedule constant still decaying": (
        "convae/classifier.py", "if hyper[\"schedule\"] == \"cosine\" else (lambda epochs: None)",
        "if hyper[\"schedule\"] else (lambda epochs: None)"),
    "the partial batch trained on": ("convae/training.py",) + NEW_BUGS["the partial batch trained on"][1:3],
    "the NumPy pipeline dropping a full last batch": (
        "convae/training.py",) + NEW_BUGS["the NumPy pipeline dropping a full last batch"][1:3],
    "a resumed run's epochs ordered as from epoch 0": (
        "convae/training.py",) + NEW_BUGS["a resumed run's epochs ordered as from epoch 0"][1:3],
    "a short block of steps padded with trained steps": (
        "convae/dispatch.py",) + NEW_BUGS["a short block of steps padded with trained steps"][1:3],
    "validation dropping its last, partial batch": (
        "convae/training.py",) + NEW_BUGS["validation dropping its last, partial batch"][1:3],
    "early stopping's best weights dropped on resume": (
        "convae/checkpoint.py", "stopper.best_weights = [arrays[f\"best/{n}\"] for n in names] if",
        "stopper.best_weights = None and [arrays[f\"best/{n}\"] for n in names] if"),
    "early stopping's patience counter restarted on resume": (
        "convae/checkpoint.py", "stopper.wait, stopper.best, stopper.best_epoch = kept[\"wait\"], kept[\"best\"]",
        "stopper.wait, stopper.best, stopper.best_epoch = 0, kept[\"best\"]"),
    "minutes recorded in seconds": NEW_BUGS["minutes recorded in seconds"][:3],
    "the JSON's seed the default whatever --seed says": (
        "classification.py", '"hyperparameters": experiment.hyper, "settings": settings, "status": experiment.status,',
        '"hyperparameters": experiment.hyper, "settings": dict(settings, seed=1), "status": experiment.status,'),
    "parameters counting BatchNormalization's step counts": (
        "convae/layers.py", "for w in model.weights if not _is_count(w)))", "for w in model.weights))"),
    "the views' validation accuracy taken from the network alone": (
        "classification.py", "training.predict(predictor, validation[0])",
        "training.predict(model, validation[0])"),
}
NOT_AT_7C0D6A0 = ("a resumed experiment 2 losing experiment 1's row",
                  "a reused folder's rows dropped from experiments.csv",
                  "--save over another run's model without --overwrite",
                  # the one call, the definitions and the sweep's modules came later
                  "the sweep's direction inverted", "a trial's seed dropped",
                  "a sweep's fixed flags not handed to its trials", "a searched integer handed on as a float",
                  "--encoder-dropout dropped in stage 2", "--batch-norm dropped in stage 2", "--shift and --zoom swapped",
                  "--patience in stage 2 only", "--val-split taken as the share kept",
                  "the autoencoder's --kernel given as its --filters", "SIGTERM and SIGHUP left to kill the sweep",
                  "the default folder named anew each time", "one HParams configuration per worker start",
                  "a storage that stops answering not waited for", "a storage waited for without end",
                  "a full disk taken for the trial's own failure", "workers started again without end",
                  "a result cut short taken for a failure",
                  # pruning, a second objective, the dashboard, pipelines of their own: 2026-12-07
                  "a pruned configuration's other seeds queued anyway", "the pruner never asked",
                  "an epoch's report one step late", "pruned trials left out of the summary's count",
                  "the second objective dropped", "the Pareto front keeping dominated configurations",
                  "the objectives left unnamed", "the seed a parameter again", "a grid of numbers stored as text",
                  "a figure's legend sorted as text", "training and validation lines in two colours",
                  "every trial's own autoencoder trained with seed 1", "a pipeline's minutes without its autoencoder's",
                  "McNemar's counts taken from the wrong model", "a trial's figures titled Experiment 1")


def copy_project(target):
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        os.makedirs(os.path.join(target, os.path.dirname(name)), exist_ok=True)
        shutil.copy2(os.path.join(REPO, name), os.path.join(target, name))


def source_of(root, file, text):
    with open(os.path.join(root, file)) as f:
        source = f.read()
    if source.count(text) != 1:
        raise SystemExit(f"error: {file}: the text to replace occurs {source.count(text)} times, expected once: {text!r}")
    return source


def plant(target, file, text, replacement):
    source = source_of(target, file, text)
    with open(os.path.join(target, file), "w") as f:
        f.write(source.replace(text, replacement))


def verdict(result, test):
    """caught (the named test failed an assertion), SURVIVED (it passed) or CRASHED (anything else:
    an exception in the test or a fixture, a copy that does not import), from pytest's report."""
    failed = re.search(r"^FAILED " + re.escape(test) + r" - (.*)$", result.stdout, re.MULTILINE)
    if failed and re.match(r"(assert|AssertionError|Failed: DID NOT RAISE)", failed.group(1)):
        return "caught"
    if result.returncode == 0 and re.search(r"\b1 passed\b", result.stdout):
        return "SURVIVED"
    return "CRASHED"


def try_bug(name, bug, core):
    """Plants one bug in a fresh copy, runs its test (pinned to `core` when one is given) and
    returns its verdict and the seconds it took."""
    file, text, replacement, test = bug
    with tempfile.TemporaryDirectory() as folder:
        target = os.path.join(folder, "project")
        copy_project(target)
        plant(target, file, text, replacement)
        # the copy sits beside no ../shared: give it the same neighbour the project has
        if os.path.isdir(os.path.join(REPO, "..", "shared")):
            os.symlink(os.path.abspath(os.path.join(REPO, "..", "shared")), os.path.join(folder, "shared"))
        start = time.perf_counter()
        command = [sys.executable, "-m", "pytest", "-q", "-n", "0", "-rfE", "-p", "no:cacheprovider", test]
        pin = None if core is None else (lambda: os.sched_setaffinity(0, {core}))
        try:
            # wide enough that pytest's summary line keeps the failure's message after the test's id
            found = verdict(subprocess.run(command, cwd=target, capture_output=True, text=True, timeout=TIMEOUT,
                                           preexec_fn=pin, env=dict(os.environ, COLUMNS="1000")), test)
        except subprocess.TimeoutExpired:
            found = "TIMEOUT"
        return found, time.perf_counter() - start


def checkout(revision, folder):
    """`revision`'s tracked files in folder/project, beside the same ../shared the project has."""
    target = os.path.join(folder, "project")
    os.makedirs(target)
    archive = subprocess.run(["git", "archive", revision], cwd=REPO, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", target], input=archive, check=True)
    if os.path.isdir(os.path.join(REPO, "..", "shared")):
        os.symlink(os.path.abspath(os.path.join(REPO, "..", "shared")), os.path.join(folder, "shared"))
    return target


def together_at(revision, only=None):
    """Plant the new bugs, in their forms of `revision`, in a checkout of it, as many at once as do not
    touch the same text, and run that revision's whole suite on each such round: a suite that passes
    missed every bug of the round. Returns 0 where every round passed."""
    rounds = []
    for name, bug in NEW_BUGS.items():
        if name in NOT_AT_7C0D6A0 or (only and not any(w in name for w in only)):
            continue
        form = OLD_FORMS.get(name, bug[:3])
        place = next((r for r in rounds if all((f, t) != form[:2] for f, t, _ in r.values())), None)
        if place is None:
            rounds.append(place := {})
        place[name] = form
    status = 0
    for number, bugs in enumerate(rounds, 1):
        with tempfile.TemporaryDirectory() as folder:
            target = checkout(revision, folder)
            for file, text, replacement in bugs.values():
                plant(target, file, text, replacement)
            start = time.perf_counter()
            result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfE"],
                                    cwd=target, capture_output=True, text=True, env=dict(os.environ, COLUMNS="200"))
            summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr[-500:]
            verdict = "all missed" if result.returncode == 0 else "some caught"
            print(f"round {number}: {len(bugs)} bugs planted together in {revision} ({', '.join(bugs)}): its suite: "
                  f"{summary} in {time.perf_counter() - start:.0f} s: {verdict}", flush=True)
            if result.returncode:
                status = 1
                print("\n".join(line for line in result.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))))
    return status


def alone_at(revision, tests, only):
    """Plant each new bug alone, in its form of `revision`, in a checkout of it, and run `tests` (the
    tests of that revision that failed when the bugs were planted together, see together_at): a bug
    under which they all pass is missed by that revision's suite, as far as a test that passes with
    every bug planted passes with one. Returns 0."""
    for name, bug in NEW_BUGS.items():
        if name in NOT_AT_7C0D6A0 or (only and not any(w in name for w in only)):
            continue
        file, text, replacement = OLD_FORMS.get(name, bug[:3])
        with tempfile.TemporaryDirectory() as folder:
            target = checkout(revision, folder)
            plant(target, file, text, replacement)
            start = time.perf_counter()
            result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfE", *tests],
                                    cwd=target, capture_output=True, text=True, env=dict(os.environ, COLUMNS="200"))
            failed = sorted({line.split()[1].split("[")[0] for line in result.stdout.splitlines()
                             if line.startswith(("FAILED", "ERROR"))})
            summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr[-300:]
            verdict = ("missed" if result.returncode == 0 else "caught by " + ", ".join(f.split("::")[-1] for f in failed)
                       if failed else "error: " + summary)
            print(f"{verdict:8s} {name} ({summary}; {time.perf_counter() - start:.0f} s)", flush=True)
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", metavar="WORDS", help="only the bugs whose names contain these words")
    parser.add_argument("--check", action="store_true", help="only check that every text to replace occurs once")
    parser.add_argument("--together-at", metavar="REV", help="plant the new bugs in their old forms in REV's code "
                        "and run REV's whole suite (see together_at)")
    parser.add_argument("--jobs", type=int, default=1, metavar="N",
                        help="N bugs at once, each pinned to one core (Linux; default 1, on every core)")
    parser.add_argument("--alone-at", nargs="+", metavar=("REV", "TEST"), help="plant each new bug alone in REV's "
                        "code and run only the TESTs given (see alone_at)")
    args = parser.parse_args()
    if args.alone_at:
        return alone_at(args.alone_at[0], args.alone_at[1:], args.only)
    if args.together_at:
        return together_at(args.together_at, args.only)
    bugs = {name: bug for name, bug in BUGS.items() if not args.only or any(w in name for w in args.only)}
    if args.check:
        for file, text, _, _ in bugs.values():
            source_of(REPO, file, text)
        print(f"{len(bugs)} bugs: every text to replace occurs once")
        return 0
    cores = queue.Queue()
    for core in (sorted(os.sched_getaffinity(0))[:args.jobs] if args.jobs > 1 else [None]):
        cores.put(core)

    def one(item):
        core = cores.get()
        try:
            return try_bug(*item, core)
        finally:
            cores.put(core)

    missed = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=cores.qsize()) as pool:
        futures = {pool.submit(one, item): item for item in bugs.items()}
        for future in concurrent.futures.as_completed(futures):
            name, (_, _, _, test) = futures[future]
            found, seconds = future.result()
            print(f"{found:8s} {name} ({seconds:.0f} s; {test.split('::')[-1][:80]})", flush=True)
            if found != "caught":
                missed.append(f"{name} ({found})")
    print(f"\n{len(bugs) - len(missed)} of {len(bugs)} planted bugs caught by the test named for them" +
          (f"; not caught: {', '.join(missed)}" if missed else ""))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
