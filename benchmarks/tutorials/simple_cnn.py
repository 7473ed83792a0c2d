"""simple_cnn: the tutorial's CNNModel (benchmark baseline)."""
import tensorflow as tf
from _from_scratch import scaled_datasets, train_and_test

train_ds, test_ds = scaled_datasets()


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
