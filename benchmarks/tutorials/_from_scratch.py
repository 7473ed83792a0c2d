"""The "MNIST image classification models from scratch" training loop, as the
tutorial writes it for each of its models: eager `GradientTape` steps over a
shuffled `tf.data` pipeline, the test set scored after every epoch.

The one change for Keras 3: metrics' `reset_states()` is now `reset_state()`.
With TUTORIAL_TF_FUNCTION=1 (not the tutorial's code: a second baseline for
`benchmarks/end_to_end.py`) the two step functions are compiled with
`tf.function`, as TensorFlow's own "quickstart for experts" writes them.
"""
import os
import time

import tensorflow as tf
from _common import load_data, report

NUM_EPOCHS = 5


def scaled_datasets():
    """The tutorial's datasets for SimpleModel and CNNModel: scaled, a channel added,
    shuffled over the whole training set, batches of 32."""
    (x_train, y_train), (x_test, y_test) = load_data()
    x_train_scaled, x_test_scaled = x_train / 255.0, x_test / 255.0
    x_train_scaled = x_train_scaled[..., tf.newaxis].astype("float32")
    x_test_scaled = x_test_scaled[..., tf.newaxis].astype("float32")
    train_ds = tf.data.Dataset.from_tensor_slices((x_train_scaled, y_train)).shuffle(
        60000).batch(32)
    test_ds = tf.data.Dataset.from_tensor_slices((x_test_scaled, y_test)).batch(32)
    return train_ds, test_ds


def train_and_test(model, train_ds, test_ds):
    loss_object = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    optimizer = tf.keras.optimizers.Adam()
    train_loss = tf.keras.metrics.Mean(name="train_loss")
    train_accuracy = tf.keras.metrics.SparseCategoricalAccuracy(name="train_accuracy")
    test_loss = tf.keras.metrics.Mean(name="test_loss")
    test_accuracy = tf.keras.metrics.SparseCategoricalAccuracy(name="test_accuracy")

    def model_training(images, labels):
        with tf.GradientTape() as tape:
            predictions = model(images)
            loss = loss_object(labels, predictions)
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        train_loss(loss)
        train_accuracy(labels, predictions)

    def model_testing(images, labels):
        with tf.GradientTape() as tape:
            predictions = model(images)
            loss = loss_object(labels, predictions)
        test_loss(loss)
        test_accuracy(labels, predictions)

    if os.environ.get("TUTORIAL_TF_FUNCTION") == "1":
        model_training = tf.function(model_training)
        model_testing = tf.function(model_testing)

    started = time.perf_counter()
    for epoch in range(NUM_EPOCHS):
        train_loss.reset_state()
        train_accuracy.reset_state()
        test_loss.reset_state()
        test_accuracy.reset_state()

        for image_batch, label_batch in train_ds:
            model_training(image_batch, label_batch)

        for image_batch, label_batch in test_ds:
            model_testing(image_batch, label_batch)

        print(
            f"Epoch {epoch + 1}, "
            f"Loss: {train_loss.result()}, "
            f"Accuracy: {train_accuracy.result() * 100}, "
            f"Test Loss: {test_loss.result()}, "
            f"Test Accuracy: {test_accuracy.result() * 100}")
    report(time.perf_counter() - started, test_accuracy.result())
