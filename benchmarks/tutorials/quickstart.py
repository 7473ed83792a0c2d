"""quickstart as the TensorFlow beginner quickstart writes it (benchmark baseline)."""
import time

import tensorflow as tf
from _common import load_data, report

(x_train, y_train), (x_test, y_test) = load_data()
x_train, x_test = x_train / 255.0, x_test / 255.0

model = tf.keras.models.Sequential([
    tf.keras.layers.Flatten(input_shape=(28, 28)),
    tf.keras.layers.Dense(128, activation="relu"),
    tf.keras.layers.Dropout(0.2),
    tf.keras.layers.Dense(10),
])
predictions = model(x_train[:1]).numpy()
loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
model.compile(optimizer="adam", loss=loss_fn, metrics=["accuracy"])

started = time.perf_counter()
model.fit(x_train, y_train, epochs=5)
train_seconds = time.perf_counter() - started
_, accuracy = model.evaluate(x_test, y_test, verbose=2)
report(train_seconds, accuracy)
