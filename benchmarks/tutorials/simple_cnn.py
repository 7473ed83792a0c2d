"""simple_cnn: the tutorial's CNNModel (benchmark baseline)."""
import tensorflow as tf
from _common import load_data
from _from_scratch import train_and_test

(x_train, y_train), (x_test, y_test) = load_data()
x_train_scaled, x_test_scaled = x_train / 255.0, x_test / 255.0
x_train_scaled = x_train_scaled[..., tf.newaxis].astype("float32")
x_test_scaled = x_test_scaled[..., tf.newaxis].astype("float32")
train_ds = tf.data.Dataset.from_tensor_slices((x_train_scaled, y_train)).shuffle(60000).batch(32)
test_ds = tf.data.Dataset.from_tensor_slices((x_test_scaled, y_test)).batch(32)


class CNNModel(tf.keras.Model):
    def __init__(self):
        super(CNNModel, self).__init__()
        self.cnn = tf.keras.layers.Conv2D(32, 3, input_shape=(28, 28, 1))
        self.maxpool = tf.keras.layers.MaxPool2D()
        self.flatten = tf.keras.layers.Flatten()
        self.d1 = tf.keras.layers.Dense(32, activation="relu")
        self.output_layer = tf.keras.layers.Dense(10)

    def call(self, x):
        x = self.cnn(x)
        x = self.maxpool(x)
        x = self.flatten(x)
        x = self.d1(x)
        x = self.output_layer(x)
        return x


train_and_test(CNNModel(), train_ds, test_ds)
