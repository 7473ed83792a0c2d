"""mlp_dropout as the Keras MNIST walkthrough writes it (benchmark baseline)."""
import time

import tensorflow as tf
from _common import load_data, report

(x_train, y_train), (x_test, y_test) = load_data()
x_train = x_train.reshape(len(x_train), 784)  # the tutorial writes 60000: any size here
x_test = x_test.reshape(len(x_test), 784)  # (10000)
x_train = x_train.astype("float32") / 255
x_test = x_test.astype("float32") / 255
n_classes = 10
y_train = tf.keras.utils.to_categorical(y_train, n_classes)
y_test = tf.keras.utils.to_categorical(y_test, n_classes)

model = tf.keras.Sequential([
    tf.keras.layers.Dense(512, input_shape=(784,)),
    tf.keras.layers.Activation("relu"),
    tf.keras.layers.Dropout(0.2),
    tf.keras.layers.Dense(10),
    tf.keras.layers.Activation("softmax"),
])
model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])

started = time.perf_counter()
history = model.fit(x_train, y_train, validation_split=0.1, epochs=5, batch_size=128)
train_seconds = time.perf_counter() - started
score = model.evaluate(x_test, y_test, verbose=0)
report(train_seconds, score[1])
