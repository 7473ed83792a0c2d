"""simple_dense: the tutorial's SimpleModel (benchmark baseline)."""
import tensorflow as tf
from _from_scratch import scaled_datasets, train_and_test

train_ds, test_ds = scaled_datasets()


class SimpleModel(tf.keras.Model):
    def __init__(self):
        super(SimpleModel, self).__init__()
        self.flatten = tf.keras.layers.Flatten()
        self.d1 = tf.keras.layers.Dense(32, activation="relu")
        self.output_layer = tf.keras.layers.Dense(10)

    def call(self, x):
        x = self.flatten(x)
        x = self.d1(x)
        x = self.output_layer(x)
        return x


train_and_test(SimpleModel(), train_ds, test_ds)
