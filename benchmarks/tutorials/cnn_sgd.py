"""cnn_sgd as "MNIST: a line-by-line code review" writes it (benchmark baseline)."""
import time

import tensorflow as tf
from _common import load_data, report
from tensorflow.keras.layers import Conv2D, Dense, Flatten, MaxPooling2D
from tensorflow.keras.models import Sequential
from tensorflow.keras.optimizers import SGD
from tensorflow.keras.utils import to_categorical

(x_train, y_train), (x_test, y_test) = load_data()
x_train = x_train.reshape((x_train.shape[0], 28, 28, 1))
x_test = x_test.reshape((x_test.shape[0], 28, 28, 1))
x_train = x_train.astype("float32") / 255.0
x_test = x_test.astype("float32") / 255.0
y_train = to_categorical(y_train)
y_test = to_categorical(y_test)

model = Sequential()
model.add(Conv2D(32, (3, 3), activation="relu", kernel_initializer="he_uniform",
                 input_shape=(28, 28, 1)))
model.add(MaxPooling2D((2, 2)))
model.add(Flatten())
model.add(Dense(100, activation="relu", kernel_initializer="he_uniform"))
model.add(Dense(10, activation="softmax"))
opt = SGD(learning_rate=0.01, momentum=0.9)
model.compile(optimizer=opt, loss="categorical_crossentropy", metrics=["accuracy"])

started = time.perf_counter()
model.fit(x_train, y_train, epochs=10, batch_size=32)
train_seconds = time.perf_counter() - started
_, accuracy = model.evaluate(x_test, y_test)
report(train_seconds, accuracy)
tf.keras.backend.clear_session()
