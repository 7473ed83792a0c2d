"""embedding: the tutorial's EmbeddingModel, fed unscaled pixels (benchmark baseline)."""
import tensorflow as tf
from _common import load_data
from _from_scratch import train_and_test

(x_train, y_train), (x_test, y_test) = load_data()
train_data = tf.data.Dataset.from_tensor_slices((x_train, y_train)).shuffle(1000).batch(32)
test_data = tf.data.Dataset.from_tensor_slices((x_test, y_test)).batch(32)


class EmbeddingModel(tf.keras.Model):
    def __init__(self):
        super(EmbeddingModel, self).__init__()
        self.flatten = tf.keras.layers.Flatten()
        self.embedding = tf.keras.layers.Embedding(input_dim=784, output_dim=3)
        self.d1 = tf.keras.layers.Dense(32, activation="relu")
        self.output_layer = tf.keras.layers.Dense(10)

    def call(self, x):
        x = self.flatten(x)
        x = self.embedding(x)
        x = self.flatten(x)
        x = self.d1(x)
        x = self.output_layer(x)
        return x


train_and_test(EmbeddingModel(), train_data, test_data)
