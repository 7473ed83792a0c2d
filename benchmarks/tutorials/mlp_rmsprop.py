"""mlp_rmsprop as Deep Learning with Python, ch. 2, writes it (benchmark baseline)."""
import time

from _common import load_data, report
from keras import layers, models
from tensorflow.keras.utils import to_categorical

(train_images, train_labels), (test_images, test_labels) = load_data()
network = models.Sequential()
network.add(layers.Dense(512, activation="relu", input_shape=(28 * 28,)))
network.add(layers.Dense(10, activation="softmax"))
network.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])

train_images = train_images.reshape((len(train_images), 28 * 28))  # the book: 60000
train_images = train_images.astype("float32") / 255
test_images = test_images.reshape((len(test_images), 28 * 28))  # the book: 10000
test_images = test_images.astype("float32") / 255
train_labels = to_categorical(train_labels)
test_labels = to_categorical(test_labels)

started = time.perf_counter()
network.fit(train_images, train_labels, epochs=5, batch_size=128)
train_seconds = time.perf_counter() - started
test_loss, test_acc = network.evaluate(test_images, test_labels)
report(train_seconds, test_acc)
